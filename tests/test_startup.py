"""Start-up cost: the root package and the command line's parser import no scipy.

``pc_analog`` resolves its public names lazily (PEP 562 ``__getattr__``), and the CLI's
parser spells out the few choice lists it needs; these tests keep both honest: the lazy
table must give exactly the objects of the modules it names, and the spelled-out lists
must equal the library's.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import pc_analog


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_building_the_cli_parser_imports_no_scipy():
    mods = _modules_after("from pc_analog.cli.main import _build_parser\n_build_parser()")
    assert "pc_analog.cli.main" in mods
    assert not {m for m in mods if m == "scipy" or m.startswith("scipy.")}
    assert "pc_analog.settling.registry" not in mods


def test_import_pc_analog_is_lazy():
    mods = _modules_after("import pc_analog")
    assert "numpy" not in mods and "pc_analog.model.network" not in mods


#: The two public names that differ from their module attribute's name.
ALIASES = {"prediction_errors": "errors", "DEVICE_PRESETS": "PRESETS"}


@pytest.mark.parametrize("name", pc_analog.__all__)
def test_every_public_name_is_its_modules_object(name):
    import importlib

    if name in pc_analog._LAZY:
        module, attr = pc_analog._LAZY[name]
        assert attr == ALIASES.get(name, name)
        assert getattr(pc_analog, name) is getattr(importlib.import_module(module), attr)
    else:
        assert name in vars(pc_analog)  # the eager ones: version and exceptions
    assert name in dir(pc_analog)


def test_lazy_table_and_all_agree():
    eager = {"__version__"} | {n for n in pc_analog.__all__ if n.endswith(("Error", "Warning"))}
    assert set(pc_analog.__all__) == set(pc_analog._LAZY) | eager


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        pc_analog.no_such_name  # noqa: B018


def test_spelled_out_choice_lists_equal_the_librarys():
    from pc_analog.cli import grads, settle
    from pc_analog.reference.variants import LOSSES, METHODS
    from pc_analog.settling.registry import BACKENDS

    assert settle.BACKEND_NAMES == tuple(sorted(BACKENDS))
    assert grads.METHODS == METHODS and grads.LOSSES == LOSSES
