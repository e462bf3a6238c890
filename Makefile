# csaudit — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench lab sample clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m ipykernel install --sys-prefix --name csaudit --display-name "csaudit (.venv)" >/dev/null
	touch $(STAMP)

## demo: set up and run the weekly audit of data/sample_chats/ -> reports/index.html
demo: $(STAMP)
	$(VENV)/bin/csaudit ingest data/sample_chats

## test: set up and run the whole test suite
test: $(STAMP)
	$(VENV)/bin/ruff check csaudit tests benchmarks
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check csaudit tests benchmarks

## bench: one command, prints ratios against the naive approach
bench: $(STAMP)
	$(PY) benchmarks/run.py

## lab: JupyterLab on notebooks/ with the project's environment as its kernel
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

## sample: regenerate data/sample_chats/ (deterministic)
sample: $(STAMP)
	$(VENV)/bin/csaudit sample --out data/sample_chats --seed 7

clean:
	rm -rf $(VENV) reports out .pytest_cache .ruff_cache
