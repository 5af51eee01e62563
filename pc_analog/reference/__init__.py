"""Stage 6, the digital reference: backprop and the discrete PC variants (PC, FPA, Z-IL)."""
