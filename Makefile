# Two commands on a fresh clone: `make demo` and `make test`. Both create the virtual environment
# when it is missing and install pixelboard into it (again whenever pyproject.toml changes):
# `make demo` the runtime dependencies only, `make test` the test extra as well.
#   make test VENV=.ci/venv                         another environment
#   make test CONSTRAINTS=constraints/ci.txt        the pinned versions CI installs (.ci/run)
#   make test-latest                                the newest releases, in .venv-latest: what would break
#   make test-min                                   the oldest versions pyproject.toml allows (constraints/min.txt)
#   make demo DEMO_ARGS=--quiet

PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?=
DEMO_ARGS ?=
PYTEST_ARGS ?=
BIN := $(VENV)/bin
PIP_CONSTRAINT_ARG := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)

.PHONY: demo test test-latest test-min install install-test lock

demo: $(VENV)/.installed-runtime
	$(BIN)/pixelboard demo $(DEMO_ARGS)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

install: $(VENV)/.installed-runtime

install-test: $(VENV)/.installed-test

$(VENV)/.installed-runtime: pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e . $(PIP_CONSTRAINT_ARG)
	touch $@

$(VENV)/.installed-test: pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]" $(PIP_CONSTRAINT_ARG)
	touch $@ $(VENV)/.installed-runtime

# The newest releases pyproject.toml allows, in a fresh environment, against the fast tests; then the
# versions that differ from the lock, so a failure names its suspects.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install -q --upgrade pip
	.venv-latest/bin/python -m pip install -q --upgrade -e ".[test]"
	.venv-latest/bin/python scripts/compare_lock.py constraints/ci.txt
	.venv-latest/bin/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

# The oldest versions pyproject.toml allows (constraints/min.txt: each floor), in a fresh environment,
# against the tests of the core path (featurize, models, leaderboard, predict, reliability, ...).
MIN_TESTS ?= tests/test_models.py tests/test_featurizers.py tests/test_leaderboard.py tests/test_predict.py \
	tests/test_featurize_pipeline.py tests/test_partition.py tests/test_blenders.py tests/test_api.py
test-min:
	rm -rf .venv-min
	$(PYTHON) -m venv .venv-min
	.venv-min/bin/python -m pip install -q --upgrade pip
	.venv-min/bin/python -m pip install -q -c constraints/min.txt -e ".[test]"
	.venv-min/bin/python -m pytest -q -m "not slow" $(MIN_TESTS) $(PYTEST_ARGS)

# Rewrite constraints/ci.txt from a fresh test environment (after a dependency change).
lock:
	rm -rf .venv-lock
	$(MAKE) install-test VENV=.venv-lock
	bash scripts/lock.sh .venv-lock
	rm -rf .venv-lock
