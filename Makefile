# gradlab course: `make lab` to learn, `make test` to check everything.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup lab test test-browser test-portability grade assign clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	-$(PY) -m pip uninstall -q -y gradlab 2>/dev/null  # the package's old distribution name
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

# JupyterLab on the course folder, opening the start page; its terminals run this .venv's python.
lab: setup
	$(PY) -m gradlab.ui.lab

# The whole suite: unit tests, notebook/.py pair checks, nbval over every notebook, browser tests.
test: setup
	$(PY) -m pytest tests --nbval notebooks solutions -q

test-browser: setup
	$(PY) -m pytest tests/browser -q

# The suite without browser tests under other CPUs' float rounding (SIMD off, MKL's portable path,
# 1 and 2 threads): every chapter's stated conclusion must hold on every learner's machine.
test-portability: setup
	bash .ci/portability

# Grade every exercise notebook (one summary line each); reports go to grade-reports/.
grade: setup
	$(PY) -m gradlab.grade exercises/*.ipynb --json grade-reports/exercises.json

# Regenerate exercises/ from solutions/ (authors only).
assign: setup
	$(PY) -m gradlab.assign

clean:
	rm -rf $(VENV) test-artifacts grade-reports
