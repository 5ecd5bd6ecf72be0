# Quick start: `make run` serves the shipped config on http://127.0.0.1:8080/, `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= config/feedhub.yaml
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast lint bench corpus pages wheels clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/feedhub -c $(CONFIG) run

# The whole suite, with its duration (kept under 10 minutes on a 2-core machine).
test: $(STAMP) corpus pages wheels
	$(BIN)/ruff check src tests benchmarks
	@start=$$(date +%s); status=0; $(BIN)/python -m pytest $(PYTEST_ARGS) || status=$$?; \
	echo "make test: pytest took $$(( $$(date +%s) - start )) s (exit $$status)"; exit $$status

# The quick loop: everything but the slow tests (corpus runs, subprocess services, installs).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m 'not slow' $(PYTEST_ARGS)

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

# Real-world feeds kept as test data by two more sdists on PyPI: rss2email's test/data
# (BBC Chinese, Gmane, Disqus, the Node.js blog, …) and feed2exec's tests/files (Planet
# Debian, GitHub releases, UDD, …). --no-binary names them only: their build tools may be wheels.
REAL_FEEDS_DIR := .cache/real-feeds
corpus: $(REAL_FEEDS_DIR)/.done
$(REAL_FEEDS_DIR)/.done: | $(STAMP)
	mkdir -p .cache/sdist $(REAL_FEEDS_DIR)
	$(BIN)/python -m pip download --quiet --no-binary rss2email,feed2exec --no-deps -d .cache/sdist rss2email==3.12.2 feed2exec==0.18.0
	tar -xzf .cache/sdist/rss2email-3.12.2.tar.gz -C $(REAL_FEEDS_DIR) rss2email-3.12.2/test/data
	tar -xzf .cache/sdist/feed2exec-0.18.0.tar.gz -C $(REAL_FEEDS_DIR) feed2exec-0.18.0/feed2exec/tests/files
	touch $@

# Real article pages with their expected article text, for the full-text tests and
# benchmarks/fulltext.py: newspaper4k's tests/data (MIT; CNN, Time, Wired, Fox 13, Yonhap, and
# pages in Spanish, Latvian, Arabic, Thai, Chinese, Japanese…: html/ and txt/ by name).
PAGES_DIR := .cache/article-pages
pages: $(PAGES_DIR)/.done
$(PAGES_DIR)/.done: | $(STAMP)
	mkdir -p .cache/sdist $(PAGES_DIR)
	$(BIN)/python -m pip download --quiet --no-binary newspaper4k --no-deps -d .cache/sdist newspaper4k==0.9.6
	tar -xzf .cache/sdist/newspaper4k-0.9.6.tar.gz -C $(PAGES_DIR) --strip-components=3 newspaper4k-0.9.6/tests/data/html newspaper4k-0.9.6/tests/data/txt
	touch $@

# More real news pages for benchmarks/fulltext.py, from trafilatura 1.0.0's sdist (tests/cache,
# shipped in its sdists up to 1.x; the package is GPLv3+, the pages are the outlets'): Reuters,
# the Guardian, Vice, Salon, National Geographic, The Verge, Phys.org, Threatpost, DW, heise,
# Zeit. They come without expected text: the expected texts are written by hand
# (benchmarks/data/fulltext/, how in benchmarks/README.md).
TRAF_PAGES := reuters.com.parasite theguardian.com.academics vice.com.amazon salon.com.emissions \
	nationalgeographic.co.uk.goats theverge.com.ios13 phys.org.tool threatpost.com.android \
	dw.com.colonial heise.de.lithium zeit.de.zugverkehr
TRAF_PAGES_DIR := .cache/trafilatura-pages
pages: $(TRAF_PAGES_DIR)/.done
$(TRAF_PAGES_DIR)/.done: | $(STAMP)
	mkdir -p .cache/sdist $(TRAF_PAGES_DIR)
	$(BIN)/python -m pip download --quiet --no-binary trafilatura --no-deps -d .cache/sdist trafilatura==1.0.0
	tar -xzf .cache/sdist/trafilatura-1.0.0.tar.gz -C $(TRAF_PAGES_DIR) --strip-components=3 $(foreach p,$(TRAF_PAGES),trafilatura-1.0.0/tests/cache/$(p).html)
	touch $@

# Wheels of the runtime dependencies (no extras) and of the build backend, so that
# tests/test_plain_install.py installs the project into a fresh venv as a user would, offline.
WHEELS_DIR := .cache/wheels
wheels: $(WHEELS_DIR)/.done
$(WHEELS_DIR)/.done: pyproject.toml | $(STAMP)
	mkdir -p $(WHEELS_DIR)
	$(BIN)/python -m pip wheel --quiet -w $(WHEELS_DIR) . 'setuptools>=68' wheel
	rm -f $(WHEELS_DIR)/feedhub-*.whl
	touch $@

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) .cache .pytest_cache build src/*.egg-info
