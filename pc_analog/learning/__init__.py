"""Stage 9, training in the simulated circuit: configuration, loop, checkpoints, figures."""
