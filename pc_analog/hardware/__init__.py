"""Stage 8, hardware learning: device models (conductance pairs) and the Hebbian stage."""
