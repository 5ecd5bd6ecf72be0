# Quick start: `make run` serves the shipped config on http://127.0.0.1:8080/, `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= config/feedhub.yaml
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench corpus clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/feedhub -c $(CONFIG) run

test: $(STAMP) corpus
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

# feedparser's own test corpus (2,248 feed files, BSD-2), from its sdist on PyPI.
CORPUS_DIR := .cache/feedparser-corpus
corpus: $(CORPUS_DIR)/.done
$(CORPUS_DIR)/.done: | $(STAMP)
	mkdir -p .cache/sdist $(CORPUS_DIR)
	$(BIN)/python -m pip download --quiet --no-binary :all: --no-deps -d .cache/sdist feedparser==6.0.14
	tar -xzf .cache/sdist/feedparser-6.0.14.tar.gz -C $(CORPUS_DIR) --strip-components=1 feedparser-6.0.14/tests
	touch $@

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) .cache .pytest_cache build src/*.egg-info
