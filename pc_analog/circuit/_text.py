"""SPICE text primitives shared by the element kinds (numbers, sums, continuation lines).

ngspice parses a B source in time quadratic in its number of controlling nodes, so a
long sum is split into partial sums (:func:`fan_in`).  Numbers are written with
Python's shortest round-trip ``repr``: a deck reproduces the IR exactly and the text
is deterministic.
"""

from __future__ import annotations

#: Terms per physical line in long expressions and ``.save``/``.ic`` lists.
TERMS_PER_LINE = 6
#: Most non-zero terms in one B-source expression (see :func:`fan_in`).
MAX_FAN_IN = 32


def num(v) -> str:
    """Shortest round-trip decimal of a float (deterministic, exact)."""
    return repr(float(v))


def v(node: str) -> str:
    """The ngspice voltage of ``node``."""
    return f"v({node})"


def linear_combination(terms: list[tuple[float, str]], const: float = 0.0) -> list[str]:
    """``sum c_k * expr_k + const`` as chunks (one per physical line).

    Zero terms are omitted and unit coefficients not written.
    """
    parts: list[str] = []
    for c, expr in terms:
        if c == 0.0:
            continue
        term = expr if abs(c) == 1.0 else f"{num(abs(c))}*{expr}"
        if not parts:
            parts.append(f"{'-' if c < 0 else ''}{term}")
        else:
            parts.append(f"{'-' if c < 0 else '+'} {term}")
    if const != 0.0:
        if not parts:
            parts.append(num(const))
        else:
            parts.append(f"{'-' if const < 0 else '+'} {num(abs(const))}")
    if not parts:
        return ["0"]
    return [" ".join(parts[k : k + TERMS_PER_LINE]) for k in range(0, len(parts), TERMS_PER_LINE)]


def element(head: str, chunks: list[str], tail: str = "") -> list[str]:
    """An element line ``head chunk0`` with continuation lines ``+ chunk_k``."""
    lines = [f"{head}{chunks[0]}"]
    lines.extend(f"+ {c}" for c in chunks[1:])
    if tail:
        lines[-1] += tail
    return lines


def fan_in(
    terms: list[tuple[float, str]], const: float, prefix: str
) -> tuple[list[str], list[str]]:
    """A long sum split into partial sums of at most :data:`MAX_FAN_IN` terms.

    ngspice differentiates a B source's expression symbolically once per
    controlling node, so parsing one source of ``n`` terms costs ``O(n^2)``
    (measured: 16 sources of 512 terms take 1.3 s, 256 sources of 784 terms
    50 s).  Sums of more than ``MAX_FAN_IN`` non-zero terms are therefore
    computed in B sources at partial-sum nodes ``<prefix>_<k>``, whose voltages
    are then added.  Returns the partial-sum source lines and the chunks of
    the final expression.
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
            lines += element(f"B{node} {node} 0 V=", linear_combination(group))
            partial.append((1.0, v(node)))
        terms = partial
    return lines, linear_combination(terms, const)
