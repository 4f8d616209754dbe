# Two commands on a fresh clone: `make demo` and `make test`. Both create the virtual environment
# when it is missing and install pixelboard into it (again whenever pyproject.toml changes).
#   make test VENV=.ci/venv    another environment (what .ci/run does)
#   make demo DEMO_ARGS=--quiet

PYTHON ?= python3
VENV ?= .venv
DEMO_ARGS ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.pixelboard-installed

.PHONY: demo test install

demo: $(STAMP)
	$(BIN)/pixelboard demo $(DEMO_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)
