"""Shared by the benchmark scripts: machine description and BENCHMARKS.md sections."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import subprocess
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def machine_line() -> str:
    """One line: date, CPU model, cores, memory, Python, numpy, scipy, ngspice."""
    import numpy
    import scipy

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    try:
        out = subprocess.run(["ngspice", "--version"], capture_output=True, text=True, timeout=10)
        m = re.search(r"ngspice-(\S+)", out.stdout)
        spice = f", ngspice {m.group(1)}" if m else ""
    except (OSError, subprocess.SubprocessError):
        spice = ", no ngspice"
    date = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Measured {date} on {cpu}, {os.cpu_count()} cores{mem}; Python "
        f"{platform.python_version()}, numpy {numpy.__version__}, scipy {scipy.__version__}{spice}."
    )


def replace_section(title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of BENCHMARKS.md."""
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# pc-analog benchmarks\n"
    block = f"## {title}\n\n{body.rstrip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block + "\n", text)
    else:
        text = text.rstrip() + "\n\n" + block
    BENCHMARKS.write_text(text.rstrip() + "\n")
