"""Stage 1, the model: activations, the layered network and its energy ``F`` (SPEC section 1).

Pure numpy; nothing here knows about circuits.
"""
