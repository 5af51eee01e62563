"""Stage 3, the circuit IR: the physical circuit a network compiles to, and its graph views."""
