VENV ?= .venv
PY := $(VENV)/bin/python
CMS := $(VENV)/bin/cms
STAMP := $(VENV)/.installed

.PHONY: install run test bench validate schema clean

$(STAMP): pyproject.toml
	test -d $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(CMS) validate content

test: install
	$(PY) -m pytest -n 2

validate: install
	$(CMS) validate content

schema: install
	$(CMS) schema

bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .cms bench/out
