VENV ?= .venv
PY := $(VENV)/bin/python
CMS := $(VENV)/bin/cms
STAMP := $(VENV)/.installed

.PHONY: install run test bench validate schema lint clean

$(STAMP): pyproject.toml
	test -d $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

install: $(STAMP)

HOST ?= 127.0.0.1
PORT ?= 8000

run: install
	$(CMS) serve content --host $(HOST) --port $(PORT) --watch

test: install
	$(VENV)/bin/ruff check cms api tests bench
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -n 2 --dist loadgroup

validate: install
	$(CMS) validate content

lint: install
	$(VENV)/bin/ruff check cms api tests bench
	$(VENV)/bin/lint-imports

schema: install
	$(CMS) schema

bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .cms bench/out
