"""Stage 2, files and data: network JSON/.npz (SPEC section 2), vectors and clamp files, data sets.

Reads and writes model objects only; every later stage may use it.
"""
