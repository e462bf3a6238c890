# csaudit — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench lab sample clean wheel-check

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m ipykernel install --sys-prefix --name csaudit --display-name "csaudit (.venv)" >/dev/null
	touch $(STAMP)

## demo: set up and run the weekly audit of data/sample_chats/ -> reports/index.html
demo: $(STAMP)
	$(VENV)/bin/csaudit ingest data/sample_chats
	$(VENV)/bin/csaudit report data/sample_chats --orders data/sample_chats/orders.csv --out reports
	@echo "Reports: file://$(CURDIR)/reports/index.html (agents in reports/agents/, workbook reports/audit.xlsx)"

## test: set up and run the whole test suite
test: $(STAMP)
	@# the browser test needs Debian's chromium + chromedriver: install them when missing and root
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium and chromium-driver for the browser test"; \
	    apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
	      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } \
	      || echo "could not install chromium: the browser test will be skipped"; \
	  else echo "chromium/chromedriver missing and not root: the browser test will be skipped"; fi; \
	fi
	$(VENV)/bin/ruff check csaudit tests benchmarks notebooks
	$(PY) -m pytest -q

## wheel-check: build a wheel, install it into a fresh venv, `csaudit report` the sample from outside the checkout
wheel-check:
	PYTHON=$(PYTHON) bash .ci/wheel_check

lint: $(STAMP)
	$(VENV)/bin/ruff check csaudit tests benchmarks notebooks

## bench: one command, prints ratios against the naive approach
bench: $(STAMP)
	$(PY) benchmarks/run.py

## lab: JupyterLab on the notebooks (csaudit/notebooks, linked as notebooks/) with the project's environment as its kernel
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=csaudit/notebooks

## sample: regenerate data/sample_chats/ (deterministic)
sample: $(STAMP)
	$(VENV)/bin/csaudit sample --out data/sample_chats --seed 7

clean:
	rm -rf $(VENV) reports out .pytest_cache .ruff_cache
