"""Named tolerances of the oracle tests, each from a measured accuracy times a safety factor.

Every constant says what is compared, what was measured on the reference machine
(numpy/scipy of the project's venv, float64), and the factor kept as margin.  A test
that needs a looser bound than its measured error times ~100 is a test that hides
something; tighten the constant when the measurement improves.
"""

from __future__ import annotations

# --------------------------------------------------------- Jacobian vs finite differences
#: Central-difference step (volts, in units where g0 = 1 and tau = 1) for the ODE
#: right-hand side.  Truncation ~ h^2 |f'''| and round-off ~ eps |f| / h balance near 1e-5.
JAC_FD_STEP = 1e-5
#: max |J_analytic - J_fd| / max |J_analytic| over random tanh/sigmoid/softplus/linear
#: networks, first-order and inertial.  Measured <= 4.2e-11 at JAC_FD_STEP (4.4e-7 at
#: h = 1e-3, i.e. the FD is second order); kept at ~250x.  A 1 % error in one block fails.
JAC_FD_RTOL = 1e-8

# ------------------------------------------------------------ ODE vs closed forms
#: One free unit with inertia, OdeBackend at its default rtol 1e-8 / atol 1e-12:
#: max |x(t) - x_exact(t)| / |x(0) - x*| over the run.  Measured <= 3.0e-8 for zeta in
#: {0.3, 1, 1.5, 4, 10}; kept at ~30x.
ODE_TRAJ_RTOL = 1e-6
#: OdeBackend at its defaults: |settling time - exact| / exact (exact: brentq on the
#: closed form).  Measured <= 8.3e-8 for one inertial unit (zeta = 4) and <= 5.1e-7 on
#: clamped identity chains of depth 2-8 (RC; inertial <= 2.4e-9); kept at ~20x.
ODE_SETTLING_RTOL = 1e-5

# ------------------------------------------------------------ settling_time
#: settling_time with a dense interpolant bisects to 1e-12 relative; against the exact
#: crossing of an analytic curve measured <= 2e-15 (a few ulps); kept at 1e-10.
SETTLING_DENSE_RTOL = 1e-10

# ------------------------------------------------------ discrete flow, convergence order
#: Observed order of Euler (discrete_inference) at fixed t over a decade of steps:
#: |p - 1|.  Measured p = 1.000-1.003 (linear and tanh networks); kept at 0.03.
ORDER_TOL = 0.03
#: (x_euler - x_exact) / gamma against the leading term -(t/2) H^2 expm(-H t)(x0 - x*):
#: relative gap measured 0.195 gamma (the next order); allowed 1.0 gamma.
EULER_LEAD_RTOL_PER_STEP = 1.0
#: OdeBackend at its defaults (rtol 1e-8, atol 1e-12) on a linear network vs
#: x* + expm(-H t)(x0 - x*), relative to max|x0 - x*|: measured 1.7e-9; kept at ~60x.
ODE_LINEAR_TRAJ_RTOL = 1e-7
