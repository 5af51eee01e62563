"""Write the notebooks in notebooks/ from their cell sources (outputs cleared).

Run: .venv/bin/python scripts/make_notebooks.py
The notebooks hold no library logic: every computation is a call into pc_analog.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]

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
        "import os\n"
        "import shutil\n"
        "\n"
        "import matplotlib.pyplot as plt\n"
        "import numpy as np\n"
        "\n"
        "import pc_analog as pa\n"
        "from pc_analog.circuit import Hardware, compile_network\n"
        "from pc_analog.netlist import write_netlist\n"
        "from pc_analog.plots import plot_settling_scaling, plot_transients\n"
        "from pc_analog.studies import settling_vs_depth, settling_vs_width\n"
        "\n"
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
        "fig, ax = plt.subplots(figsize=(8, 4))\n"
        "plot_transients(results, ax=ax)\n"
        "ax.set_title('free activities of the 3-5-4-2 network');"
    ),
    new_markdown_cell(
        "## Settling time against depth\n\n"
        "Identity chains clamped to 1 at the input and 0 at the output. The slowest mode "
        "is `lambda_min = 4 sin^2(pi / 2L)`: RC settling grows like `L^2`, a critically "
        "damped spring network (mass added, damping set for the slowest mode) like `L`."
    ),
    new_code_cell(
        "depths = [2, 4, 8] if SMALL else [2, 4, 8, 16, 32, 64]\n"
        "rows = settling_vs_depth(depths) + settling_vs_depth(depths, inertial=True)\n"
        "for r in rows:\n"
        "    t = r['settling_time_tau']\n"
        "    print(f\"{r['dynamics']:8s} L={r['depth']:3d}  t = {t:8.2f} tau\"\n"
        "          f\"  (one-mode estimate {r['predicted_tau']:8.2f})\")\n"
        "fig, ax = plt.subplots(figsize=(6, 4))\n"
        "plot_settling_scaling(rows, x='depth', ax=ax)\n"
        "ax.set_title('settling time vs depth');"
    ),
    new_markdown_cell("## Settling time against width\n\nSeeded random tanh networks, depth 3."),
    new_code_cell(
        "widths = [4, 8, 16] if SMALL else [4, 8, 16, 32, 64, 128]\n"
        "wrows = settling_vs_width(widths)\n"
        "for r in wrows:\n"
        "    print(f\"width {r['width']:4d}  t = {r['settling_time_tau']:7.2f} tau\"\n"
        "          f\"  lambda_min = {r['lambda_min']:.3f}\")\n"
        "fig, ax = plt.subplots(figsize=(6, 4))\n"
        "plot_settling_scaling(wrows, x='width', ax=ax)\n"
        "ax.set_title('settling time vs width (depth 3)');"
    ),
]


def write(name: str, cells) -> None:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, ROOT / "notebooks" / name)


if __name__ == "__main__":
    write("01_settling.ipynb", SETTLING)
