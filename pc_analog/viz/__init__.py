"""Stage 12, figures (matplotlib imported lazily)."""
