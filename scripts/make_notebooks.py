"""Write the notebooks in notebooks/ from their cell sources, then execute them at their
default size so that they are committed with their outputs (figures as PNG at 80 dpi).

Run: .venv/bin/python scripts/make_notebooks.py [--no-execute] [NAME ...]
The notebooks hold no library logic: every computation is a call into pc_analog.
Each must run in under 90 s at its default size on a 2-core machine (the script prints
the time it took); PC_ANALOG_SMALL=1 selects the smaller sizes CI runs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
#: Notebooks at their default size must run in under this on a 2-core machine.
BUDGET_S = 90.0

#: Inline figures as PNG at a modest resolution, nothing clipped (first code cell of each).
FIGURE_SETUP = (
    "%matplotlib inline\n"
    "%config InlineBackend.figure_formats = ['png']\n"
    "%config InlineBackend.print_figure_kwargs = {'bbox_inches': 'tight'}\n"
)

SETTLING = [
    new_markdown_cell(
        "# 01 · Settling: one network, three simulators\n\n"
        "A layered predictive-coding energy compiles to a circuit: capacitors hold the "
        "activities, conductances are the error springs, crossbars carry the weights. "
        "The circuit relaxes to the energy's minimum by itself, with time constant "
        "`tau = C / g0`. This notebook compiles a small network, settles it with scipy "
        "(`ode`) and with ngspice, draws both transients on one axis, and measures how "
        "the settling time grows with depth and width.\n\n"
        "Set `PC_ANALOG_SMALL=1` for the small sizes CI runs."
    ),
    new_code_cell(
        FIGURE_SETUP + "import os\n"
        "import shutil\n"
        "\n"
        "import matplotlib.pyplot as plt\n"
        "import numpy as np\n"
        "\n"
        "import pc_analog as pa\n"
        "from pc_analog.circuit.ir import Hardware, compile_network\n"
        "from pc_analog.experiments.studies import settling_vs_depth, settling_vs_width\n"
        "from pc_analog.spice.netlist import write_netlist\n"
        "from pc_analog.viz.plots import plot_settling_scaling, plot_transients\n"
        "\n"
        "plt.rcParams['figure.dpi'] = 80\n"
        "SMALL = bool(os.environ.get('PC_ANALOG_SMALL'))\n"
        "HAVE_NGSPICE = shutil.which('ngspice') is not None\n"
        "print('small sizes:', SMALL, '| ngspice:', HAVE_NGSPICE)"
    ),
    new_markdown_cell("## Compile\n\nA 3-5-4-2 tanh network, input and target clamped."),
    new_code_cell(
        "net = pa.Network.random([3, 5, 4, 2], 'tanh', precisions=[1.0, 2.0, 0.5],\n"
        "                        seed=0, gain=1.5)\n"
        "rng = np.random.default_rng(0)\n"
        "x0, y = rng.uniform(-1, 1, size=(1, 3)), rng.uniform(-1, 1, size=(1, 2))\n"
        "circuit = compile_network(net, x0, y, hardware=Hardware(c_F=1e-12, g0_S=1e-6))\n"
        "print('tau =', circuit.tau_s, 's;', circuit.n_elements())\n"
        "print('\\n'.join(write_netlist(circuit).splitlines()[:24]))"
    ),
    new_markdown_cell("## Settle with scipy and ngspice\n\nLines: `ode`; markers: ngspice."),
    new_code_cell(
        "results = {'ode': pa.settle(circuit, backend='ode')}\n"
        "if HAVE_NGSPICE:\n"
        "    results['ngspice'] = pa.settle(circuit, backend='ngspice')\n"
        "eq = pa.settle(circuit, backend='equilibrium')\n"
        "for name, r in results.items():\n"
        "    diff = max(np.abs(a - b).max() for a, b in zip(r.x, eq.x))\n"
        "    print(f'{name:8s} settling time {r.settling_time_s[0] / r.tau_s:7.3f} tau;'\n"
        "          f' max |x - x_equilibrium| = {diff:.2e}')\n"
        "fig, ax = plt.subplots(figsize=(8, 4), layout='constrained')\n"
        "plot_transients(results, ax=ax)\n"
        "ax.set_title('free activities of the 3-5-4-2 tanh network (tau = 1 us): '\n"
        "             + ', '.join(results), fontsize=10);"
    ),
    new_markdown_cell(
        "## Settling time against depth\n\n"
        "Identity chains clamped to 1 at the input and 0 at the output. The slowest mode "
        "is `lambda_min = 4 sin^2(pi / 2L)`: RC settling grows like `L^2`, a critically "
        "damped spring network (mass added, damping set for the slowest mode) like `L`."
    ),
    new_code_cell(
        "depths = [2, 4, 8] if SMALL else [2, 4, 8, 16, 32]\n"
        "rows = settling_vs_depth(depths) + settling_vs_depth(depths, inertial=True)\n"
        "for r in rows:\n"
        "    t = r['settling_time_tau']\n"
        "    print(f\"{r['dynamics']:8s} L={r['depth']:3d}  t = {t:8.2f} tau\"\n"
        "          f\"  (one-mode estimate {r['predicted_tau']:8.2f})\")\n"
        "fig, ax = plt.subplots(figsize=(6.5, 4), layout='constrained')\n"
        "plot_settling_scaling(rows, x='depth', ax=ax)\n"
        "ax.set_title('identity chains (width 1), ode backend, band 1e-3: settling vs depth',\n"
        "             fontsize=10);"
    ),
    new_markdown_cell("## Settling time against width\n\nSeeded random tanh networks, depth 3."),
    new_code_cell(
        "widths = [4, 8, 16] if SMALL else [4, 8, 16, 32, 64]\n"
        "wrows = settling_vs_width(widths)\n"
        "for r in wrows:\n"
        "    print(f\"width {r['width']:4d}  t = {r['settling_time_tau']:7.2f} tau\"\n"
        "          f\"  lambda_min = {r['lambda_min']:.3f}\")\n"
        "fig, ax = plt.subplots(figsize=(6.5, 4), layout='constrained')\n"
        "plot_settling_scaling(wrows, x='width', ax=ax)\n"
        "ax.set_title('random tanh networks, depth 3, batch 4, ode backend: settling vs width',\n"
        "             fontsize=10);"
    ),
]


NOTEBOOK_02 = [
    new_markdown_cell(
        "# 02 · Hebbian training in the circuit\n\n"
        "Learning happens where the weights live. For every mini-batch the circuit is "
        "compiled from the current device state with the input *and* the label clamped "
        "(voltage sources), and relaxes to its equilibrium (`equilibrium` backend). At "
        "the settled state each cross-point of layer `l` sees two voltages: the "
        "precision-weighted error `pi_l eps_l` on its row (`eps_l = x_l - mu_l`, the "
        "stretch of the error spring) and the activation `phi(x_{l-1})` on its column. "
        "The local rule\n\n"
        "    dW_l = eta * pi_l eps_l phi(x_{l-1})^T        db_l = eta * pi_l eps_l\n\n"
        "is their product (summed over the batch) and equals `-eta dF/dW_l` at that state: "
        "no weight transport, no separate backward pass. It is *programmed*, not "
        "assigned: a weight is a differential pair `W = (G+ - G-) / g_unit`, the change "
        "is split as `dG+ = +g_unit dW / 2`, `dG- = -g_unit dW / 2`, and a device with a "
        "finite pulse step receives `n = floor(x) + Bernoulli(x - floor(x))` pulses, "
        "`x = |dG| / pulse_step` (stochastic rounding), then write noise, the bounds and "
        "the level grid apply (`pc_analog.hardware.devices.apply_update`).\n\n"
        "With a weak output clamp (output precision `pi_out` small against the hidden "
        "precisions: the label *nudges* the circuit) this update approaches backprop's; to "
        "see how closely, every run also trains a digital **backprop twin** (same initial "
        "weights, batches and learning rates; its loss `1/2 pi_out |y - a|^2` scales with `pi_out` "
        "like the Hebbian update, so `lr * pi_out` is the effective learning rate of both). "
        "This notebook trains on scikit-learn's 8x8 "
        "digits next to the twin, then asks how accuracy degrades with fewer conductance "
        "levels and with more write noise.\n\n"
        "At its default size (every one of the 1437 training digits, 6 epochs, three device "
        "settings per sweep) the notebook runs in about a minute; longer training is "
        "`benchmarks/train_targets.py` (BENCHMARKS.md). Set `PC_ANALOG_SMALL=1` for the "
        "small sizes CI runs (400 training and 200 test samples, 2 epochs, two settings "
        "per sweep)."
    ),
    new_code_cell(
        FIGURE_SETUP + "import dataclasses\n"
        "import json\n"
        "import os\n"
        "import tempfile\n"
        "from pathlib import Path\n"
        "\n"
        "import matplotlib.pyplot as plt\n"
        "import numpy as np\n"
        "\n"
        "import pc_analog as pa\n"
        "from pc_analog.hardware.devices import PRESETS\n"
        "from pc_analog.viz.plots import plot_training\n"
        "\n"
        "plt.rcParams['figure.dpi'] = 80\n"
        "SMALL = bool(os.environ.get('PC_ANALOG_SMALL'))\n"
        "# Hyperparameters of case (a) of benchmarks/train_targets.py (see BENCHMARKS.md):\n"
        "# a weak output clamp pi_out = 0.1 and effective learning rate lr * pi_out = 0.2.\n"
        "BASE = dict(dataset='digits', arch=(64, 128, 10), activation='tanh',\n"
        "            backend='equilibrium', batch_size=32, precision_output=0.1,\n"
        "            lr=2.0, lr_schedule='constant', input_scaling='none')\n"
        "SIZES = (dict(epochs=2, limit_train=400, limit_test=200) if SMALL\n"
        "         else dict(epochs=6))\n"
        "print('small sizes:', SMALL, '|', SIZES)"
    ),
    new_markdown_cell(
        "## Train in the circuit, next to the backprop twin\n\n"
        "Ideal devices (an unbounded, continuous, noiseless memory): the only difference "
        "from the twin is that the update is read from the settled circuit instead of "
        "being computed by backprop."
    ),
    new_code_cell(
        "cfg = pa.TrainConfig(**BASE, **SIZES, device='ideal', seed=0)\n"
        "report = pa.train(cfg, tempfile.mkdtemp(), progress=False, plots=False)\n"
        "for h in report.history:\n"
        "    print(f\"epoch {h['epoch']:3d}  PC {h['test_accuracy']:.4f}\"\n"
        "          f\"  BP {h['bp_test_accuracy']:.4f}  {h['seconds']:.2f} s\")\n"
        "fig = plot_training(report.history)\n"
        'fig.suptitle(f"digits, 64-128-10 tanh, equilibrium backend, ideal devices, "\n'
        '             f"{cfg.epochs} epochs: PC in the circuit vs its backprop twin");'
    ),
    new_markdown_cell(
        "## Accuracy against device bits\n\n"
        "The 4-bit preset (0-20 uS, one pulse = one level) with the number of levels "
        "changed; `pulse_step_S=None` lets the pulse step follow the new level spacing "
        "(`dataclasses.replace` would otherwise keep the 16-level step). Each device "
        "configuration is written as a JSON file and named in `TrainConfig`, exactly as on "
        "the command line. Same seed, batches and learning rates as above, so the backprop "
        "twin is the same run every time (dashed line); the dotted line is PC with ideal "
        "devices."
    ),
    new_code_cell(
        "def train_on(device, label):\n"
        '    """Train with ``device`` (a DeviceConfig) in a fresh folder; the report."""\n'
        "    out = Path(tempfile.mkdtemp())\n"
        "    (out / 'device.json').write_text(json.dumps(device.to_dict()))\n"
        "    cfg = pa.TrainConfig(**BASE, **SIZES, device=str(out / 'device.json'), seed=0)\n"
        "    r = pa.train(cfg, out / 'run', progress=False, plots=False)\n"
        "    print(f'{label:>22s}: PC {r.test_accuracy:.4f}  BP {r.bp_test_accuracy:.4f}')\n"
        "    return r\n"
        "\n"
        "\n"
        "levels = [4, 256] if SMALL else [4, 16, 256]\n"
        "by_levels = [\n"
        "    train_on(dataclasses.replace(PRESETS['4bit'], levels=n, pulse_step_S=None,\n"
        "                                 name=f'{n} levels'), f'{n} levels')\n"
        "    for n in levels\n"
        "]\n"
        "fig, ax = plt.subplots(figsize=(6.5, 3.6), layout='constrained')\n"
        "ax.plot(np.log2(levels), [r.test_accuracy for r in by_levels], 'o-',\n"
        "        label='PC in hardware')\n"
        "ax.axhline(report.test_accuracy, ls=':', color='k', label='PC, ideal devices')\n"
        "ax.axhline(report.bp_test_accuracy, ls='--', color='gray', label='backprop twin')\n"
        "ax.set_xlabel('device bits (log2 levels)')\n"
        "ax.set_ylabel('test accuracy')\n"
        "ax.set_title(f'64-128-10 tanh, {SIZES[\"epochs\"]} epochs: accuracy vs conductance '\n"
        "             'levels (no write noise)', fontsize=10)\n"
        "ax.legend(loc='lower right');"
    ),
    new_markdown_cell(
        "## Accuracy against write noise\n\n"
        "16 levels (4 bit) with cycle-to-cycle write noise, the standard deviation of "
        "every write as a fraction of the conductance range (`0.02` is the `4bit-noisy` "
        "preset)."
    ),
    new_code_cell(
        "noises = [0.0, 0.05] if SMALL else [0.0, 0.02, 0.05]\n"
        "by_noise = [\n"
        "    train_on(dataclasses.replace(PRESETS['4bit'], write_noise=w,\n"
        "                                 name=f'4bit, noise {w}'), f'write noise {w}')\n"
        "    for w in noises\n"
        "]\n"
        "fig, ax = plt.subplots(figsize=(6.5, 3.6), layout='constrained')\n"
        "ax.plot(100 * np.array(noises), [r.test_accuracy for r in by_noise], 'o-',\n"
        "        label='PC in hardware (4 bit)')\n"
        "ax.axhline(report.test_accuracy, ls=':', color='k', label='PC, ideal devices')\n"
        "ax.axhline(report.bp_test_accuracy, ls='--', color='gray', label='backprop twin')\n"
        "ax.set_xlabel('write noise (% of the conductance range)')\n"
        "ax.set_ylabel('test accuracy')\n"
        "ax.set_title(f'64-128-10 tanh, {SIZES[\"epochs\"]} epochs: accuracy vs write noise '\n"
        "             '(16 levels)', fontsize=10)\n"
        "ax.legend(loc='lower left');"
    ),
]


CODESIGN = [
    new_markdown_cell(
        "# 03 · Co-design: when does the analog circuit beat digital backprop?\n\n"
        "The circuit settles in physical time `t_settle` (a multiple of `tau = C / g0`) and "
        "burns energy in its error springs, its crossbar cells and the static power of its "
        "amplifiers. A digital machine runs backprop as a chain of kernels: its batch-1 "
        "latency is dominated by kernel launches, its throughput by FLOP/s, its energy by "
        "energy per FLOP (a roofline model of a reference GPU; `docs/hardware.md` gives the "
        "sources of every number). This notebook\n\n"
        "1. puts one network's settle next to backprop and digital PC (`timing_report`),\n"
        "2. sweeps network size through an executor and marks where the analog/digital "
        "ratios cross 1,\n"
        "3. sweeps device bits and write noise (quantised, noisy conductances) and measures "
        "how far the settled state moves, on local processes and on a Dask cluster.\n\n"
        "Set `PC_ANALOG_SMALL=1` for the small sizes CI runs."
    ),
    new_code_cell(
        FIGURE_SETUP + "import os\n"
        "\n"
        "import matplotlib.pyplot as plt\n"
        "import numpy as np\n"
        "\n"
        "import pc_analog as pa\n"
        "from pc_analog.costs.timing import timing_report\n"
        "from pc_analog.experiments.sweep import RATIO_COLUMNS, crossover_table, run_sweep\n"
        "from pc_analog.viz.plots import plot_crossover, sweep_figures\n"
        "\n"
        "plt.rcParams['figure.dpi'] = 80\n"
        "SMALL = bool(os.environ.get('PC_ANALOG_SMALL'))\n"
        "WORKERS = 2\n"
        "print('small sizes:', SMALL)"
    ),
    new_markdown_cell(
        "## One network: analog settle vs backprop and digital PC\n\n"
        "Latency is one sample (batch 1); throughput a batch of 256 on the digital side and "
        "one circuit settling sample after sample on the analog side. Digital PC runs the "
        "same gradient flow in Euler steps until it reaches the residual the analog "
        "circuit had at its settling time."
    ),
    new_code_cell(
        "sizes = [16, 32, 32, 10] if SMALL else [64, 128, 128, 10]\n"
        "net = pa.Network.random(sizes, 'tanh', seed=0)\n"
        "rng = np.random.default_rng(0)\n"
        "x0 = rng.uniform(0, 1, size=(1, sizes[0]))\n"
        "y = rng.uniform(-1, 1, size=(1, sizes[-1]))\n"
        "report = timing_report(net, x0, y, digital=('gpu-a100', 'cpu-measured'),\n"
        "                       repeats=3 if SMALL else 7)\n"
        "print(report.table())"
    ),
    new_markdown_cell(
        "## Crossover against network size\n\n"
        "A sweep is data: a grid of parameter lists, fixed settings, a seed and the "
        "quantities to measure (`docs/sweeps.md`). Each point runs `timing_report` on its "
        "own network in a worker process; the rows come back in grid order whatever the "
        "order in which the workers finish. Ratios are analog / digital: below 1 the "
        "circuit wins, and a diamond marks where a ratio crosses 1."
    ),
    new_code_cell(
        "widths = [8, 16, 32] if SMALL else [8, 16, 32, 64, 128]\n"
        "size_sweep = {\n"
        "    'format': 'pc-analog.sweep/1',\n"
        "    'grid': {'dynamics': ['RC', 'inertial'], 'width': widths},\n"
        "    'fixed': {'depth': 4, 'activation': 'tanh', 'digital': 'gpu-a100'},\n"
        "    'seed': 0,\n"
        "    'quantities': ['timing'],\n"
        "}\n"
        "sizes_res = run_sweep(size_sweep, max_workers=WORKERS, progress=False)\n"
        "print(f'{len(sizes_res.rows)} points on {sizes_res.executor} in '\n"
        "      f'{sizes_res.seconds:.1f} s')\n"
        "for t in crossover_table(sizes_res.rows, varying=['dynamics', 'width']):\n"
        "    where = ('no crossing in range' if t['crossover'] is None\n"
        "             else f\"crosses 1 at {t['crossover']:.3g} weights\")\n"
        "    print(f\"{t['dynamics']:8s} {t['ratio']:18s} {t['min']:8.3g} .. {t['max']:8.3g}\"\n"
        "          f'  {where}')\n"
        "fig, ax = plt.subplots(figsize=(7, 5), layout='constrained')\n"
        "plot_crossover(sizes_res.rows, x='n_weights', ratios=RATIO_COLUMNS,\n"
        "               by='dynamics', ax=ax)\n"
        "ax.set_title('analog (default spec, ode) / A100 roofline backprop: '\n"
        "             'random tanh networks, depth 4, batch 1', fontsize=10);"
    ),
    new_markdown_cell(
        "## Devices: bits and write noise, through the executor\n\n"
        "Every point programs the network's weights into its devices (a bounded "
        "conductance range, `2**bits` levels, write noise as a fraction of the range; "
        "`pc_analog.hardware.devices`) and settles both the programmed and the ideal network with "
        "input and target clamped. Each point draws its device noise from "
        "`(seed, point index)`, so the same rows come back from any executor: here local "
        "processes, then a Dask cluster (a `LocalCluster` on this machine; on a real "
        "cluster pass its scheduler address, `run_sweep(cfg, 'dask://host:8786')`)."
    ),
    new_code_cell(
        "device_sweep = {\n"
        "    'format': 'pc-analog.sweep/1',\n"
        "    'grid': {'write_noise': [0.0, 0.02],\n"
        "             'bits': [2, 4, 6] if SMALL else [2, 3, 4, 5, 6, 8]},\n"
        "    'fixed': {'device': 'bounded', 'depth': 3, 'width': 16, 'batch': 8},\n"
        "    'seed': 0,\n"
        "    'quantities': ['devices', 'settling'],\n"
        "}\n"
        "dev_res = run_sweep(device_sweep, max_workers=WORKERS, progress=False)\n"
        "for r in dev_res.rows:\n"
        "    print(f\"bits {r['bits']}  write noise {r['write_noise']:.2f}: \"\n"
        "          f\"|W_dev - W|/|W| = {r['weight_rel_error']:.4f}, \"\n"
        "          f\"rms |x_dev* - x*| = {r['state_error_rms_V'] * 1e3:7.2f} mV, \"\n"
        "          f\"settles in {r['settling_time_tau']:.1f} tau\")\n"
        "sweep_figures(dev_res)['device_error'];"
    ),
    new_code_cell(
        "import logging\n"
        "\n"
        "try:\n"
        "    from dask.distributed import LocalCluster\n"
        "except ImportError:\n"
        "    print('dask[distributed] is not installed: pip install \"pc-analog[dask]\"')\n"
        "else:\n"
        "    # silence_logs: workers still heartbeating while the cluster shuts down log a\n"
        "    # harmless 'Failed to communicate with scheduler' traceback.\n"
        "    with LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,\n"
        "                      dashboard_address=None, silence_logs=logging.CRITICAL) as cluster:\n"
        "        dask_res = run_sweep(device_sweep, cluster.scheduler_address, progress=False)\n"
        "    print(f'{dask_res.executor}: {len(dask_res.rows)} points in '\n"
        "          f'{dask_res.seconds:.1f} s; rows identical to the local processes: '\n"
        "          f'{list(dask_res.rows) == list(dev_res.rows)}')"
    ),
]


SEED_CLAIMS = [
    new_markdown_cell(
        "# 04 · The seeds' claims, measured\n\n"
        "The project's source texts make quantitative claims about predictive coding (PC) "
        "and backprop (BP). Each is reproduced here by a call into `pc_analog.experiments.claims`; "
        "`benchmarks/seed_claims.py` runs the same at full size and writes the numbers to "
        "BENCHMARKS.md (section *Seed claims*).\n\n"
        "1. **Seed 001, Theorem 1** (Zahid et al. 2023): from the feedforward start, the error "
        "of layer `l` is exactly zero until step `L - l`.\n"
        "2. **Z-IL = BP**, and FPA-PC with step size 1 = BP.\n"
        "3. **The variance-ratio limit**: standard PC's equilibrium update tends to BP's as "
        "the output variance grows.\n"
        "4. **Seed 001, Fig. 3**: FPA-PC's cosine similarity to BP and test accuracy against "
        "inference steps per layer, step sizes 1, 0.5, 0.1 (tanh MLPs of width 64, digits).\n"
        "5. **Digital PC time >= BP time** (measured).\n"
        "6. **Seed 002**: on the toy `f(x) = w2 w1 x`, PC escapes the saddle faster than "
        "gradient descent on the loss.\n"
        "7. **Seed 003**: the Fisher information of the activities is the precision.\n"
        "8. **Physical settling vs depth**: RC chains ~ `L^2`, critically damped springs ~ `L`.\n\n"
        "Set `PC_ANALOG_SMALL=1` for the small sizes CI runs."
    ),
    new_code_cell(
        FIGURE_SETUP + "import os\n"
        "\n"
        "import matplotlib.pyplot as plt\n"
        "import numpy as np\n"
        "\n"
        "import pc_analog as pa\n"
        "from pc_analog.experiments import claims\n"
        "from pc_analog.io.data import load_digits\n"
        "from pc_analog.viz import plots\n"
        "\n"
        "plt.rcParams['figure.dpi'] = 80\n"
        "SMALL = bool(os.environ.get('PC_ANALOG_SMALL'))\n"
        "data = load_digits(seed=0)\n"
        "onehot = np.eye(10)\n"
        "print('small sizes:', SMALL)"
    ),
    new_markdown_cell(
        "## 1. Theorem 1: the error travels one layer per step\n\n"
        "A tanh MLP, a batch of digits, the output clamped to the one-hot label. Each panel "
        "shows `log10 ||eps_l||` per layer and step; white cells are *exact* zeros, the red "
        "staircase is `t = L - l`. The step size changes how large the errors get, never "
        "when they arrive."
    ),
    new_code_cell(
        "hidden, width = (5, 16) if SMALL else (8, 64)\n"
        "net = pa.Network.random([64] + [width] * hidden + [10], 'tanh', seed=0)\n"
        "xb, yb = data.x_train[:16], onehot[data.y_train[:16]]\n"
        "arrivals = [claims.error_arrival(net, xb, yb, step_size=s, method='fpa')\n"
        "            for s in (1.0, 0.5, 0.1)]\n"
        "arrivals.append(claims.error_arrival(net, xb, yb, step_size=0.5, method='pc'))\n"
        "for r in arrivals:\n"
        "    print(f'{r.method} step {r.step_size:g}: first nonzero step per layer '\n"
        "          f'{list(r.first_step)}, L - l = {list(r.expected)} -> holds: {r.holds}')\n"
        "plots.plot_error_arrival(arrivals);"
    ),
    new_markdown_cell("## 2. Z-IL and FPA-PC (step 1) equal backprop"),
    new_code_cell(
        "for m in ('zil', 'fpa'):\n"
        "    a = claims.update_agreement(net, data.x_train[:64], onehot[data.y_train[:64]], m)\n"
        "    print(f'{m}: max |dW - dW_BP| = {a.max_abs_diff:.1e} '\n"
        "          f'(largest |dW_BP| = {a.max_abs_bp:.2f}), cosine = {a.cosine:.15f}')"
    ),
    new_markdown_cell(
        "## 3. Standard PC tends to backprop as the output variance grows\n\n"
        "The output precision is multiplied by `r` and the update divided by `r` "
        "(Whittington & Bogacz); the gap to backprop closes like `r`."
    ),
    new_code_cell(
        "net3 = pa.Network.random([64, 32, 32, 10], 'tanh', seed=1)\n"
        "vr = claims.variance_ratio_sweep(net3, data.x_train[:32], onehot[data.y_train[:32]],\n"
        "                                 [1.0, 0.1, 0.01, 1e-3, 1e-4])\n"
        "for r, c, e in zip(vr.ratios, vr.cosine, vr.rel_error):\n"
        "    print(f'r = {r:7g}: cosine {c:.8f}, relative error {e:.2e}')\n"
        "plots.plot_variance_ratio(vr);"
    ),
    new_markdown_cell(
        "## 4. Fig. 3: FPA-PC against backprop while training\n\n"
        "Each network (width 64, tanh, log-softmax output, SGD with momentum 0.9, batches "
        "of 64) is trained with FPA-PC updates after `T = floor(r L)` inference steps. Left: "
        "the cosine similarity of each update to backprop's at the same weights, averaged "
        "over training; right: test accuracy, backprop's in grey. With step size 1 the "
        "update *is* backprop's as soon as `T >= L - 1`; below that, and at smaller step "
        "sizes even beyond it, it is not."
    ),
    new_code_cell(
        "# The full grid (L = 3, 5, 7; seven ratios; 8 epochs) is benchmarks/seed_claims.py.\n"
        "fa = claims.fpa_alignment(data, n_hidden=(2, 3) if SMALL else (2, 4),\n"
        "                          ratios=(0.25, 0.5, 1.0, 2.0), epochs=1 if SMALL else 3,\n"
        "                          progress=False)\n"
        "plots.plot_fpa_alignment(fa);"
    ),
    new_markdown_cell(
        "## 5. Digital PC is never faster than backprop\n\n"
        "Wall time per batch on this machine (median of interleaved repeats, one BLAS "
        "thread). FPA-PC at its best (step 1, `T = L - 1`) already does backprop's work plus "
        "the inference bookkeeping; standard PC iterates to a tolerance."
    ),
    new_code_cell(
        "tm = claims.digital_pc_vs_bp_time((2, 4) if SMALL else (2, 4, 8),\n"
        "                                  repeats=3 if SMALL else 7)\n"
        "print('time / backprop, FPA :', np.round(tm.fpa_s / tm.bp_s, 2))\n"
        "print('time / backprop, Z-IL:', np.round(tm.zil_s / tm.bp_s, 2))\n"
        "print('time / backprop, PC  :', np.round(tm.pc_s / tm.bp_s, 1), 'after', tm.pc_steps,\n"
        "      'steps')\n"
        "plots.plot_pc_timing(tm);"
    ),
    new_markdown_cell(
        "## 6. Seed 002: the saddle of `f(x) = w2 w1 x`\n\n"
        "With `x = y = 1` the loss `1/2 (y - w2 w1 x)^2` has a saddle at the origin. PC "
        "learning is gradient descent on the equilibrated energy `F* = Loss / (1 + w2^2)`, "
        "whose escape direction is steeper and trap direction flatter. Same starts, same "
        "learning rate 0.1."
    ),
    new_code_cell(
        "starts = np.random.default_rng(0).normal(scale=0.05, size=(4, 2))\n"
        "sad = [claims.saddle_escape(s, lr=0.1, n_iter=100 if SMALL else 150) for s in starts]\n"
        "for r in sad:\n"
        "    print(f'start {np.round(r.start, 3)}: GD escapes at iteration {r.gd_escape}, '\n"
        "          f'PC at {r.pc_escape}')\n"
        "plots.plot_saddle(sad);"
    ),
    new_markdown_cell(
        "## 7. Seed 003: Fisher information of the activities\n\n"
        "For the Gaussian model `x_l | x_(l-1) ~ N(mu_l, 1/pi_l)` the layer's own factor has "
        "Fisher information `pi_l`, exactly (Monte Carlo through `E[s s^T]` confirms it). "
        "A hidden layer is also a parameter of the layer above, which adds "
        "`J^T pi_(l+1) J`: the seed's identity is exact for the output layer only."
    ),
    new_code_cell(
        "rng = np.random.default_rng(5)\n"
        "sizes = [64, 32, 16, 10]\n"
        "netf = pa.Network.random(sizes, 'tanh', seed=5,\n"
        "                         precisions=[rng.uniform(0.5, 2.0, size=n) for n in sizes[1:]])\n"
        "fis = [claims.fisher_information(netf, data.x_train[0], l,\n"
        "                                 n_samples=4000 if SMALL else 20000, seed=l)\n"
        "       for l in (1, 2, 3)]\n"
        "for f in fis:\n"
        "    z = np.abs(f.own_mc - f.own_analytic).max() / f.own_se.max()\n"
        "    print(f'layer {f.layer}: own factor within {z:.1f} SE of pi_l; full Fisher trace '\n"
        "          f'{np.trace(f.full_analytic) / np.trace(f.own_analytic):.2f} x trace(pi_l)')\n"
        "plots.plot_fisher(fis);"
    ),
    new_markdown_cell(
        "## 8. Physical settling time against depth\n\n"
        "Identity chains clamped at both ends: the slowest mode is "
        "`lambda_min = 4 sin^2(pi / 2L) ~ pi^2 / L^2`. RC circuits settle at the rate "
        "`lambda_min / tau` (time ~ `L^2`); a critically damped spring network at "
        "`sqrt(lambda_min)` (time ~ `L`)."
    ),
    new_code_cell(
        "from pc_analog.experiments.studies import fit_power_law, format_exponent\n"
        "\n"
        "DEPTHS = (4, 6, 8, 12, 16) if SMALL else (4, 6, 8, 12, 16, 24)\n"
        "ds = claims.depth_scaling(DEPTHS)\n"
        "for name, t, mode in (\n"
        "    ('RC', ds.rc_tau, ds.rc_mode_exponent),\n"
        "    ('critically damped', ds.inertial_tau, ds.inertial_mode_exponent),\n"
        "):\n"
        "    p, _, se = fit_power_law(ds.depths, t, return_stderr=True)\n"
        "    print(f'{name}: t ~ L^p, p = {format_exponent(p, se)}'\n"
        "          f' (one-mode estimate {mode:.3f})')\n"
        "fig, ax = plt.subplots(figsize=(7, 4), layout='constrained')\n"
        "plots.plot_settling_scaling(list(ds.rows), ax=ax)\n"
        "ax.set_title(f'identity chains clamped at both ends, ode backend, band {ds.band:g}',\n"
        "             fontsize=10);"
    ),
]

NOISE = [
    new_markdown_cell(
        "# 06 · Noise against the node capacitance\n\n"
        "A node of capacitance `C` at temperature `T` on its own conductance fluctuates by "
        "`sqrt(kT/C)`: 64 uV at 1 pF, 644 uV at 10 fF. Shrinking `C` is how `tau = C/g0` and "
        "the energy fall, so noise is the limit a co-design meets. This notebook computes the "
        "stationary noise of a PC circuit three ways (linear-noise theory by the Lyapunov "
        "equation, the seeded `sde` backend, and, where installed, an ngspice transient with "
        "`trnoise` sources) and follows the effective bits of the read-out as `C` shrinks.\n\n"
        "Set `PC_ANALOG_SMALL=1` for the small sizes CI runs."
    ),
    new_code_cell(
        FIGURE_SETUP + "import os\n"
        "import shutil\n"
        "\n"
        "import matplotlib.pyplot as plt\n"
        "import numpy as np\n"
        "\n"
        "import pc_analog as pa\n"
        "from pc_analog.circuit.ir import Hardware, compile_network\n"
        "from pc_analog.circuit.noise import K_BOLTZMANN, NoiseSources, with_noise\n"
        "from pc_analog.solvers.lyapunov import lyapunov_noise, noise_report, rest_point\n"
        "from pc_analog.solvers.sde import sde_noise\n"
        "\n"
        "plt.rcParams['figure.dpi'] = 80\n"
        "SMALL = bool(os.environ.get('PC_ANALOG_SMALL'))\n"
        "HAVE_NGSPICE = shutil.which('ngspice') is not None\n"
        "print('small sizes:', SMALL, '| ngspice:', HAVE_NGSPICE)"
    ),
    new_markdown_cell(
        "## One free unit between clamps\n\n"
        "A linear unit between a clamped input and a clamped target: only its own spring "
        "`pi1 g0` is a physical conductance on it, yet the feedback current (an active source) "
        "stiffens it, so it sits *below* `kT/C`: `Var = kT/C * pi1 / (pi1 + pi2 w^2)`."
    ),
    new_code_cell(
        "pi1, pi2, w = 1.0, 2.0, 1.5\n"
        "net = pa.Network((np.array([[1.0]]), np.array([[w]])), (np.zeros(1), np.zeros(1)),\n"
        "                 (np.array([pi1]), np.array([pi2])), ('linear', 'linear'))\n"
        "circ = with_noise(compile_network(net, np.array([0.3]), np.array([0.2])),\n"
        "                  NoiseSources(thermal=True))\n"
        "S, *_ = lyapunov_noise(circ)\n"
        "kTC = K_BOLTZMANN * 300 / 1e-12\n"
        "sde = sde_noise(circ, samples=2000 if SMALL else 20000, seed=0)\n"
        "print(f'kT/C                     {kTC:.4e} V^2')\n"
        "print(f'closed form              {kTC * pi1 / (pi1 + pi2 * w * w):.4e} V^2')\n"
        "print(f'Lyapunov                 {S[0, 0, 0]:.4e} V^2')\n"
        "print(f'sde ({sde.stats[\"samples\"]} draws)      {sde.cov[0, 0, 0]:.4e} V^2')"
    ),
    new_markdown_cell(
        "## A network: per-layer noise against C\n\n"
        "A 16-32-10 tanh network, input clamped, output free; thermal noise of every spring "
        "and 10 nV/rtHz of amplifier noise. The read-out's effective bits over +-1 V fall by "
        "one bit per factor 4 in `C` (thermal noise) until an 8-bit ADC no longer limits."
    ),
    new_code_cell(
        "rng = np.random.default_rng(0)\n"
        "net = pa.Network.random([16, 32, 10], 'tanh', seed=1)\n"
        "x0 = rng.uniform(-1, 1, 16)\n"
        "caps = np.logspace(-17, -11, 4 if SMALL else 13)\n"
        "rows = []\n"
        "for c in caps:\n"
        "    circ = with_noise(compile_network(net, x0, hardware=Hardware(c_F=float(c))),\n"
        "                      NoiseSources(thermal=True, amp_noise_V_rtHz=1e-8))\n"
        "    x, _ = rest_point(circ)\n"
        "    S, *_ = lyapunov_noise(circ, x)\n"
        "    rep = noise_report(circ, S, x, method='lyapunov', adc_bits=8)\n"
        "    rows.append((c, [float(np.sqrt(np.mean(s[0] ** 2))) for s in rep.std[1:]],\n"
        "                 float(rep.readout_bits[0]), float(rep.readout_bits_adc[0])))\n"
        "fig, ax = plt.subplots(1, 2, figsize=(11, 4), layout='constrained')\n"
        "for l in range(2):\n"
        "    ax[0].loglog(caps, [r[1][l] for r in rows], 'o-', label=f'layer {l + 1} (rms)')\n"
        "ax[0].loglog(caps, np.sqrt(K_BOLTZMANN * 300 / caps), 'k:', label='sqrt(kT/C)')\n"
        "ax[0].set(xlabel='C (F)', ylabel='std (V)', title='stationary noise (Lyapunov)')\n"
        "ax[0].legend()\n"
        "ax[1].semilogx(caps, [r[2] for r in rows], 'o-', label='analog read-out')\n"
        "ax[1].semilogx(caps, [r[3] for r in rows], 's-', label='after an 8-bit ADC')\n"
        "ax[1].set(xlabel='C (F)', ylabel='effective bits', title='precision of the read-out')\n"
        "ax[1].legend();"
    ),
    new_markdown_cell(
        "## Three routes, one answer\n\n"
        "At 100 fF: the Lyapunov standard deviations against 4000 draws of the `sde` backend "
        "and (when ngspice is installed) a transient with `trnoise` sources, unit by unit."
    ),
    new_code_cell(
        "circ = with_noise(compile_network(pa.Network.random([4, 6, 3], 'tanh', seed=2),\n"
        "                                  rng.uniform(-1, 1, 4), hardware=Hardware(c_F=1e-13)),\n"
        "                  NoiseSources(thermal=True, amp_noise_V_rtHz=1e-7))\n"
        "x, _ = rest_point(circ)\n"
        "S, *_ = lyapunov_noise(circ, x)\n"
        "lyap = np.sqrt(np.diag(S[0]))\n"
        "sde = np.sqrt(np.diag(sde_noise(circ, samples=1000 if SMALL else 4000, seed=3).cov[0]))\n"
        "fig, ax = plt.subplots(figsize=(7, 4), layout='constrained')\n"
        "k = np.arange(lyap.size)\n"
        "ax.plot(k, lyap * 1e3, 'ko', label='Lyapunov')\n"
        "ax.plot(k + 0.1, sde * 1e3, 'bs', label='sde')\n"
        "if HAVE_NGSPICE:\n"
        "    from pc_analog.spice.noise import ngspice_noise\n"
        "\n"
        "    ng = ngspice_noise(circ, samples=100 if SMALL else 400, seed=4)\n"
        "    ax.plot(k + 0.2, np.sqrt(np.diag(ng.cov[0])) * 1e3, 'r^', label='ngspice trnoise')\n"
        "ax.set(xlabel='free unit', ylabel='std (mV)', title='stationary noise at C = 100 fF')\n"
        "ax.legend();"
    ),
]


ANY_DIRECTION = [
    new_markdown_cell(
        "# 05 · Inference in any direction\n\n"
        "A PC network learns a joint model, so the same circuit answers any question: clamp "
        "some nodes, let the rest settle. A *generative* network carries the label at `x_0` "
        "and the image at `x_L`. Clamping the label generates a prototype; clamping half the "
        "pixels inpaints the rest; clamping the available pixels and reading `x_0` "
        "classifies with missing inputs; an associative memory (Salvatori et al., NeurIPS "
        "2021) completes a stored image from half of it. Each task sits beside its baseline "
        "(mean imputation, scikit-learn's KNNImputer, backprop on mean-imputed inputs, a "
        "classical Hopfield network). The full-size numbers are in BENCHMARKS.md "
        '("Any-direction inference", `benchmarks/any_direction.py`).\n\n'
        "Set `PC_ANALOG_SMALL=1` for the small sizes CI runs."
    ),
    new_code_cell(
        FIGURE_SETUP + "import os\n"
        "import shutil\n"
        "\n"
        "import matplotlib.pyplot as plt\n"
        "import numpy as np\n"
        "\n"
        "from pc_analog.experiments import any_direction as ad\n"
        "from pc_analog.experiments import hopfield\n"
        "from pc_analog.io.data import load_dataset, one_hot\n"
        "\n"
        "plt.rcParams['figure.dpi'] = 80\n"
        "SMALL = bool(os.environ.get('PC_ANALOG_SMALL'))\n"
        "HAVE_NGSPICE = shutil.which('ngspice') is not None\n"
        "d = load_dataset('digits')\n"
        "N_TEST = 40 if SMALL else 100\n"
        "xtr, ltr, xte, lte = d.x_train, d.y_train, d.x_test[:N_TEST], d.y_test[:N_TEST]\n"
        "rng = np.random.default_rng(0)\n"
        "\n"
        "def show(rows, titles):\n"
        "    fig, ax = plt.subplots(len(rows), 10, figsize=(8, 0.9 * len(rows)), squeeze=False)\n"
        "    for r, (imgs, t) in enumerate(zip(rows, titles)):\n"
        "        for c in range(10):\n"
        "            ax[r, c].axis('off')\n"
        "            ax[r, c].imshow(imgs[c].reshape(8, 8), cmap='gray_r', vmin=0, vmax=1)\n"
        "        ax[r, 0].set_title(t, fontsize=8, loc='left')\n"
        "    plt.show()\n"
        "print('small sizes:', SMALL, '| ngspice:', HAVE_NGSPICE)"
    ),
    new_markdown_cell(
        "## A generative network, trained in the circuit\n\n"
        "`label(10) -> hidden(32) -> image(64)`, linear, precisions 1 and 10. Every "
        "mini-batch settles with the label clamped at `x_0` and the image at `x_L`; the "
        "Hebbian step `dW = lr/B sum pi eps phi^T` is read from the settled nodes (what "
        "`pc-analog train --direction generative` does with device models)."
    ),
    new_code_cell(
        "net = ad.train_generative(xtr, one_hot(ltr, 10), epochs=3 if SMALL else 10)\nprint(net)"
    ),
    new_markdown_cell(
        "## Generation: clamp the label, free the image\n\n"
        "With the whole label clamped the feedforward start is already the rest point: the "
        "image is the network's prototype of the class."
    ),
    new_code_cell(
        "gen = ad.generate(net, one_hot(np.arange(10), 10))\n"
        "means = np.stack([xtr[ltr == c].mean(axis=0) for c in range(10)])\n"
        "show([np.clip(gen, 0, 1), means], ['generated (PC)', 'class mean of the training set'])\n"
        "print('rms to the class means:', ad.rms_per_sample(gen, means).round(3))"
    ),
    new_markdown_cell(
        "## Inpainting: clamp half the pixels\n\n"
        "Random 50 % masks and the top half. The label and the hidden layer are free too."
    ),
    new_code_cell(
        "def err(v, known):\n"
        "    return np.sqrt(np.mean(((v - xte) ** 2)[~known]))\n"
        "\n"
        "results = {}\n"
        "for name, known in {'random 50%': ad.random_masks(len(xte), 64, 0.5, rng),\n"
        "                    'top half': ad.half_masks(len(xte), which='top')}.items():\n"
        "    pc = ad.inpaint(net, xte, known)\n"
        "    knn = ad.knn_impute(xtr, xte, known)\n"
        "    mean = ad.mean_impute(xtr, xte, known)\n"
        "    results[name] = (err(pc, known), err(mean, known), err(knn, known))\n"
        "    show([np.where(known, xte, 0.5)[:10], np.clip(pc, 0, 1)[:10], knn[:10], xte[:10]],\n"
        "         [f'cue ({name})', 'PC settled', 'KNNImputer', 'truth'])\n"
        "for name, (p, m, k) in results.items():\n"
        "    print(f'{name}: rms on missing pixels  PC {p:.3f}  mean {m:.3f}  KNN {k:.3f}')"
    ),
    new_markdown_cell(
        "## Classification with missing inputs\n\n"
        "Only the available pixels are clamped; the label is read at `x_0`. The baseline is "
        "a backprop classifier fed mean-imputed inputs."
    ),
    new_code_cell(
        "bp = ad.train_bp_classifier(xtr, one_hot(ltr, 10), epochs=10 if SMALL else 20)\n"
        "keeps = [1.0, 0.75, 0.5, 0.25]\n"
        "acc_pc, acc_bp = [], []\n"
        "for keep in keeps:\n"
        "    known = ad.random_masks(len(xte), 64, keep, rng)\n"
        "    acc_pc.append(np.mean(ad.classify_missing(net, xte, known) == lte))\n"
        "    acc_bp.append(np.mean(ad.bp_predict(bp, ad.mean_impute(xtr, xte, known)) == lte))\n"
        "fig, ax = plt.subplots(figsize=(4.5, 3))\n"
        "ax.plot(keeps, acc_pc, 'o-', label='PC generative, read x_0')\n"
        "ax.plot(keeps, acc_bp, 's--', label='BP, mean-imputed')\n"
        "ax.set_xlabel('fraction of pixels available')\n"
        "ax.set_ylabel('test accuracy')\n"
        "ax.legend(fontsize=8)\n"
        "plt.show()\n"
        "print('PC', np.round(acc_pc, 3), '| BP', np.round(acc_bp, 3))"
    ),
    new_markdown_cell(
        "## Associative memory\n\n"
        "`latent(32) -> image(64)` stores K images with its latents free while "
        "it learns (Salvatori et al. 2021); recall clamps the top half of a stored image and "
        "settles. The classical Hopfield network stores the binarised images (capacity about "
        "0.14 N = 9 random patterns for N = 64)."
    ),
    new_code_cell(
        "Ks = [5, 10] if SMALL else [5, 10, 25]\n"
        "rec_pc, rec_hop = [], []\n"
        "for K in Ks:\n"
        "    mem = xtr[:K]\n"
        "    mnet = ad.train_memory(mem, epochs=100 if SMALL else 400)\n"
        "    known = ad.half_masks(K, which='top')\n"
        "    rec_pc.append(np.mean(ad.rms_per_sample(ad.recall(mnet, mem, known), mem) <= 0.05))\n"
        "    pats = hopfield.binarise(mem)\n"
        "    s, _ = hopfield.recall(hopfield.store(pats), np.where(known, pats, -1.0))\n"
        "    rec_hop.append(np.mean(ad.rms_per_sample((s + 1) / 2, (pats + 1) / 2) <= 0.05))\n"
        "fig, ax = plt.subplots(figsize=(4.5, 3))\n"
        "ax.plot(Ks, rec_pc, 'o-', label='PC memory')\n"
        "ax.plot(Ks, rec_hop, '^-', label='Hopfield')\n"
        "ax.set_xlabel('stored images K')\n"
        "ax.set_ylabel('recalled within 0.05 rms')\n"
        "ax.set_ylim(-0.02, 1.02)\n"
        "ax.legend(fontsize=8)\n"
        "plt.show()\n"
        "print('PC', rec_pc, '| Hopfield', rec_hop)"
    ),
    new_markdown_cell(
        "## Settling time of each mode, in tau\n\n"
        "The `ode` backend from the feedforward start (SPEC settling time, band 1e-3) and "
        "the slowest mode `1/lambda_min` of the free units' Hessian at rest."
    ),
    new_code_cell(
        "n = 3\n"
        "cases = {'generation': (0, one_hot(np.arange(n), 10), np.ones((n, 10), bool)),\n"
        "         'inpainting 50%': (2, xte[:n], ad.random_masks(n, 64, 0.5, rng)),\n"
        "         'classification': (2, xte[:n], np.ones((n, 64), bool))}\n"
        "for name, (layer, vals, known) in cases.items():\n"
        "    t = ad.settling_time_tau(net, layer, vals, known)\n"
        "    rest = ad.settle_masked(net, layer, vals[:1], known[:1])\n"
        "    slow = ad.slowest_mode_tau(net, rest, ad.clamp_of(net, layer, known[0]))[0]\n"
        "    print(f'{name:16s} ode settling {np.median(t):7.1f} tau',\n"
        "          f'  slowest mode {slow:6.1f} tau')"
    ),
    new_markdown_cell(
        "## The same inpainting in the circuit\n\n"
        "ngspice's operating point of the netlist with the known pixels as voltage sources "
        "and the rest as capacitor nodes rests where the equilibrium solver does."
    ),
    new_code_cell(
        "if HAVE_NGSPICE:\n"
        "    known = ad.random_masks(1, 64, 0.5, rng)\n"
        "    eq = ad.settle_masked(net, 2, xte[:1], known)\n"
        "    sp = ad.settle_masked(net, 2, xte[:1], known, backend='ngspice', analysis='op')\n"
        "    print('max |ngspice - equilibrium| =',\n"
        "          max(float(np.abs(a - b).max()) for a, b in zip(sp, eq)))\n"
        "else:\n"
        "    print('ngspice not installed: skipped')"
    ),
]


NOTEBOOKS = {
    "01_settling.ipynb": SETTLING,
    "02_hebbian_training.ipynb": NOTEBOOK_02,
    "03_codesign.ipynb": CODESIGN,
    "04_seed_claims.ipynb": SEED_CLAIMS,
    "05_any_direction.ipynb": ANY_DIRECTION,
    "06_noise.ipynb": NOISE,
}


def build(cells):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def execute(nb, cwd: Path) -> float:
    """Run ``nb`` in place at its default size (PC_ANALOG_SMALL unset); seconds taken."""
    import os
    import time

    import nbclient

    small = os.environ.pop("PC_ANALOG_SMALL", None)
    try:
        t0 = time.perf_counter()
        nbclient.NotebookClient(
            nb,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(cwd)}},
            store_widget_state=False,  # widget models are not kept: outputs stay small
        ).execute()
        return time.perf_counter() - t0
    finally:
        if small is not None:
            os.environ["PC_ANALOG_SMALL"] = small


def main(argv=None) -> int:
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebooks to write (default: all)")
    ap.add_argument("--no-execute", action="store_true", help="write without outputs")
    args = ap.parse_args(argv)
    over = []
    for name, cells in NOTEBOOKS.items():
        if args.names and name not in args.names:
            continue
        nb = build(cells)
        if not args.no_execute:
            with tempfile.TemporaryDirectory() as tmp:
                dt = execute(nb, Path(tmp))
            print(f"{name}: executed in {dt:.1f} s", flush=True)
            if dt > BUDGET_S:
                over.append(name)
        nbformat.write(nb, ROOT / "notebooks" / name)
    if over:
        print(f"over the {BUDGET_S:.0f} s budget: {', '.join(over)}")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
