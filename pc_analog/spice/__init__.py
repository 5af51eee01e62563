"""Stage 5, SPICE: the netlist writer, the netlist sandbox, the raw-file reader and the
ngspice runners and backend.
"""
