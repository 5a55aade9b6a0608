# Two commands do all the set-up: `make demo` and `make test`. Both create .venv and install into it.
# TORCH selects the torch requirement; CI passes the local CPU wheel (torch==2.13.0) to stay fast.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch
PY     := $(VENV)/bin/python

.PHONY: demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q '$(TORCH)'
	$(PY) -m pip install -q -e '.[train,dev]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/rlvr pipeline --preset tiny --out-dir runs/demo

test: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) bench/verify_math.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
