"""Stage 4, the numerical backends: the backend protocol, the rest-point solver, discrete PC,
the ODE integrator and settling-time analysis.
"""
