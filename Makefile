# pc-analog developer entry points.
#
#   make test        bootstrap, then the fast test suite (pytest; "no tests" counts as success)
#   make test-slow   bootstrap, then only the tests marked slow (none collected is a failure)
#   make lint        bootstrap, then ruff check
#   make demo        bootstrap, then python -m pc_analog.demo
#   make clean       remove .venv and caches
#
# Bootstrap (.venv/.stamp, redone when pyproject.toml changes): installs the Debian
# packages below when missing (as root; otherwise warns), creates .venv with $(PYTHON)
# (>= 3.11) and installs the package editable with its dev extra.

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp
APT_PACKAGES := ngspice libngspice0 libngspice0-dev dataset-fashion-mnist
PIP := $(VPY) -m pip --disable-pip-version-check --no-input

# Run pytest with the given arguments; exit status 5 (no tests collected) counts as success.
define run_pytest
$(VPY) -m pytest $(1) $(PYTEST_ARGS); s=$$?; \
if [ $$s -eq 5 ]; then echo "pytest: no tests collected (treated as success)"; exit 0; fi; \
exit $$s
endef

.PHONY: all bootstrap test test-slow lint demo clean bench-pcx

all: test

bootstrap: $(STAMP)

$(STAMP): pyproject.toml
	@missing=""; \
	if command -v dpkg >/dev/null 2>&1; then \
	  for p in $(APT_PACKAGES); do \
	    dpkg -s "$$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing="$$missing $$p"; \
	  done; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" -eq 0 ]; then \
	      echo "bootstrap: installing Debian packages:$$missing"; \
	      apt-get update -qq && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing \
	        || exit 1; \
	    else \
	      echo "WARNING: Debian packages missing:$$missing" >&2; \
	      echo "WARNING: run: sudo apt-get install$$missing  (ngspice tests and Fashion-MNIST will be skipped)" >&2; \
	    fi; \
	  fi; \
	else \
	  echo "WARNING: no dpkg; install ngspice (with its shared library libngspice) yourself" >&2; \
	fi
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "ERROR: $(PYTHON) is older than 3.11; run make PYTHON=python3.11 ..." >&2; exit 1; }
	@if [ ! -x $(VPY) ]; then \
	  echo "bootstrap: creating $(VENV) with $(PYTHON)"; \
	  rm -rf $(VENV); \
	  if ! $(PYTHON) -m venv $(VENV); then \
	    rm -rf $(VENV); \
	    if [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      echo "bootstrap: venv failed; installing python3-venv"; \
	      apt-get update -qq && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv \
	        && $(PYTHON) -m venv $(VENV) || exit 1; \
	    else \
	      echo "ERROR: $(PYTHON) -m venv failed; install python3-venv" >&2; exit 1; \
	    fi; \
	  fi; \
	fi
	@echo "bootstrap: pip install -e '.[dev]'"
	@$(PIP) install -q --upgrade pip
	@$(PIP) install -q -e '.[dev]'
	@touch $@

test: $(STAMP)
	@$(call run_pytest,)

# pyproject's addopts deselect the slow tests (-m 'not slow'); test-slow replaces addopts so
# that no pytest version can combine the two markers into zero tests, and zero is an error.
test-slow: $(STAMP)
	@$(VPY) -m pytest -o "addopts=-ra --strict-markers" -m slow $(PYTEST_ARGS); s=$$?; \
	if [ $$s -eq 5 ]; then echo "pytest: no slow tests collected" >&2; exit 1; fi; \
	exit $$s

lint: $(STAMP)
	$(VENV)/bin/ruff check .

demo: $(STAMP)
	$(VPY) -m pc_analog.demo

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# pc-analog against pcx 0.6.3, installed in its own environment .venv-pcx (BENCHMARKS.md).
bench-pcx:
	bash benchmarks/pcx_env.sh && .venv-pcx/bin/python benchmarks/pcx_compare.py
