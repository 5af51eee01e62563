"""Stage 7, the backend registry: :func:`settle` chooses any backend by name.

It sits downstream of every backend, so no backend imports it.
"""
