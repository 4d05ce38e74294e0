# Two commands a newcomer needs: `make demo` and `make test`. Both bootstrap .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

COMPAT_VENV := .venv-pytest8
COMPAT_STAMP := $(COMPAT_VENV)/.installed

.PHONY: demo test test-compat lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## the main job on the bundled example shop: one PASS, two FAIL verdicts
	$(PY) examples/demo.py

test: lint  ## the test suite (real pytest sessions against real loopback servers)
	$(PY) -m pytest -n 2 tests

$(COMPAT_STAMP): pyproject.toml
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(COMPAT_VENV)/bin/python -m pip install --quiet 'pytest>=8,<9' -e '.[test]'
	touch $(COMPAT_STAMP)

test-compat: $(COMPAT_STAMP)  ## the same suite on the oldest supported pytest major (8.x)
	$(COMPAT_VENV)/bin/python -m pytest -n 2 tests

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)  ## benchmarks against plain pytest + requests and deepdiff (figures in README)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) $(COMPAT_VENV) demo-out bench-out .pytest_cache .ruff_cache *.egg-info
