#!/usr/bin/env bash
# Create the separate benchmark environment .venv-pcx for benchmarks/pcx_compare.py.
#
# It holds pcx 0.6.3 from PyPI with the jax it pins, plus pc-analog itself (editable,
# without its own dependency list: the comparison needs only numpy, scipy, networkx,
# threadpoolctl, and scikit-learn for the digits), so that both libraries run on the
# same network and data in one process.  Idempotent: a finished environment (its stamp
# lists the same packages) is left as it is.  PYTHON (default python3) makes the venv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-pcx"
PCX_VERSION="0.6.3"
PYTHON="${PYTHON:-python3}"
# What pc-analog needs to import and to load the digits (its full dependency list, with
# PySpice and matplotlib, is not needed here).
EXTRA="scipy networkx threadpoolctl scikit-learn"
STAMP="$VENV/.stamp"
WANT="pcx==$PCX_VERSION $EXTRA"

if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  echo "pcx_env: $VENV is ready (pcx $PCX_VERSION)"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "pcx_env: creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input)

start=$(date +%s)
echo "pcx_env: pip install pcx==$PCX_VERSION (with its pinned jax)"
"${PIP[@]}" install -q "pcx==$PCX_VERSION"
# Installed after pcx so that pip keeps versions compatible with pcx's pins.
echo "pcx_env: pip install $EXTRA; pip install -e $ROOT --no-deps"
# shellcheck disable=SC2086
"${PIP[@]}" install -q $EXTRA
"${PIP[@]}" install -q --no-deps -e "$ROOT"
"$VENV/bin/python" -c "import pcx, jax, pc_analog; print('pcx_env: pcx', '$PCX_VERSION', 'jax', jax.__version__)"
echo "pcx_env: done in $(( $(date +%s) - start )) s; size $(du -sh "$VENV" | cut -f1)"
echo "$WANT" > "$STAMP"
