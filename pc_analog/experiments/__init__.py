"""Stage 11, experiments: settling studies, the seed claims and co-design sweeps."""
