"""Every notebook runs top to bottom at small sizes (PC_ANALOG_SMALL=1), and the committed
notebooks carry the outputs of a run at their default size: figures, no errors, no
"IProgress not found" warning from tqdm."""

from __future__ import annotations

import base64
import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMEOUT_S = 600
#: Committed outputs stay small: each PNG and each notebook file under these.
MAX_PNG_BYTES = 120_000
MAX_NOTEBOOK_BYTES = 1_500_000


def _outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _texts(nb) -> str:
    """Everything a reader sees as text: streams, plain-text data, tracebacks."""
    parts = []
    for o in _outputs(nb):
        parts.append(
            o.get("text", "") if isinstance(o.get("text"), str) else "".join(o.get("text", []))
        )
        data = o.get("data", {})
        parts.append(str(data.get("text/plain", "")))
        parts.extend(o.get("traceback", []))
    return "\n".join(parts)


def _check_outputs(nb, name: str) -> None:
    errors = [o for o in _outputs(nb) if o.get("output_type") == "error"]
    assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    assert "IProgress not found" not in _texts(nb), f"{name}: tqdm could not draw its widget"
    # The notebook drew what it promised: at least one PNG figure.
    images = [o for o in _outputs(nb) if "image/png" in o.get("data", {})]
    assert len(images) >= 1, name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("PC_ANALOG_SMALL", "1")
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:  # start from nothing: the committed outputs must not count
        if c.cell_type == "code":
            c.outputs = []
    client = nbclient.NotebookClient(
        nb,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    _check_outputs(nb, path.name)
    assert "small sizes: True" in _texts(nb)
    assert os.environ["PC_ANALOG_SMALL"] == "1"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook_has_default_size_outputs(path):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    # every code cell ran, in order, in one kernel
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: not executed top to bottom"
    _check_outputs(nb, path.name)
    assert "small sizes: False" in _texts(nb), f"{path.name}: not run at its default size"
    assert "Traceback" not in _texts(nb), f"{path.name}: a traceback in the outputs"
    for o in _outputs(nb):
        png = o.get("data", {}).get("image/png")
        if png:
            assert len(base64.b64decode(png)) < MAX_PNG_BYTES, path.name
        assert "image/svg+xml" not in o.get("data", {}), f"{path.name}: figures as PNG only"
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES


def test_committed_notebooks_match_their_generator():
    """notebooks/ is what scripts/make_notebooks.py writes (cell for cell)."""
    nbformat = pytest.importorskip("nbformat")
    spec = importlib.util.spec_from_file_location(
        "make_notebooks", ROOT / "scripts/make_notebooks.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert sorted(mod.NOTEBOOKS) == [p.name for p in NOTEBOOKS]
    for name, cells in mod.NOTEBOOKS.items():
        nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        got = [(c.cell_type, c.source) for c in nb.cells]
        want = [(c.cell_type, c.source) for c in cells]
        assert got == want, f"{name}: rerun scripts/make_notebooks.py"
