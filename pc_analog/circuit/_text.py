"""SPICE text primitives shared by the element kinds (numbers, sums, subcircuits).

ngspice parses a B source in time quadratic in its number of controlling nodes, so a
long sum is split into partial sums (:func:`fan_in`).  Numbers are written with
:data:`SIG_DIGITS` significant digits: no float-repr noise (``1e-21``, not
``1.0000000000000001e-21``), deterministic text, and a rounding (5e-11 relative) far
below what the agreement tests resolve (ngspice vs the equilibrium solver to 1e-6).
An expression is one physical line without blanks: PySpice's ``SpiceParser`` joins a
``+`` continuation with a blank and reads an element's ``V=...`` only up to the first
blank, so a blank would silently truncate the expression there.
"""

from __future__ import annotations

#: Terms per physical line in ``.save``/``.ic`` lists and ``print`` commands.
TERMS_PER_LINE = 6
#: Most non-zero terms in one B-source expression (see :func:`fan_in`).
MAX_FAN_IN = 32
#: Significant digits of every number in a deck.
SIG_DIGITS = 10


def num(v) -> str:
    """``v`` to :data:`SIG_DIGITS` significant digits (``0.5``, ``-1``, ``1e-12``, never ``-0``)."""
    s = f"{float(v):.{SIG_DIGITS}g}"
    return "0" if s == "-0" else s


def v(node: str) -> str:
    """The ngspice voltage of ``node``."""
    return f"v({node})"


def linear_combination(terms: list[tuple[float, str]], const: float = 0.0) -> str:
    """``sum c_k * expr_k + const`` as one expression without blanks.

    Zero terms are omitted and unit coefficients not written.
    """
    parts: list[str] = []
    for c, expr in terms:
        if c == 0.0:
            continue
        term = expr if abs(c) == 1.0 else f"{num(abs(c))}*{expr}"
        parts.append(f"{'-' if c < 0 else ('+' if parts else '')}{term}")
    if const != 0.0:
        parts.append(f"{'-' if const < 0 else ('+' if parts else '')}{num(abs(const))}")
    return "".join(parts) if parts else "0"


def fan_in(terms: list[tuple[float, str]], const: float, prefix: str) -> tuple[list[str], str]:
    """A long sum split into partial sums of at most :data:`MAX_FAN_IN` terms.

    ngspice differentiates a B source's expression symbolically once per
    controlling node, so parsing one source of ``n`` terms costs ``O(n^2)``
    (measured: 16 sources of 512 terms take 1.3 s, 256 sources of 784 terms
    50 s).  Sums of more than ``MAX_FAN_IN`` non-zero terms are therefore
    computed in B sources at partial-sum nodes ``<prefix>_<k>``, whose voltages
    are then added.  Returns the partial-sum source lines and the final expression.
    """
    terms = [(c, e) for c, e in terms if c != 0.0]
    lines: list[str] = []
    k = 0
    while len(terms) > MAX_FAN_IN:
        partial = []
        for start in range(0, len(terms), MAX_FAN_IN):
            node = f"{prefix}_{k}"
            k += 1
            group = terms[start : start + MAX_FAN_IN]
            lines.append(f"B{node} {node} 0 V={linear_combination(group)}")
            partial.append((1.0, v(node)))
        terms = partial
    return lines, linear_combination(terms, const)


def subckt(name: str, ports: str, body: list[str], params: str = "") -> list[str]:
    """A ``.subckt`` definition (``params``: ``name=default`` pairs, ngspice numparam)."""
    head = f".subckt {name} {ports}" + (f" {params}" if params else "")
    return [head, *body, ".ends"]


def node_name(kind: str, l: int, i: int) -> str:
    """SPEC node names: ``x<l>_<i>`` activity, ``e<l>_<i>`` error, ``m<l>_<i>`` prediction."""
    return f"{kind}{l}_{i}"
