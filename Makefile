# Two commands: `make demo` and `make test` (as root on a fresh Debian machine).
# Both install what is missing, then do their job; running them again is cheap.

# The venv belongs to one Python: `make test PYTHON=python3.13` rebuilds .venv with
# that Python, a later plain `make test` rebuilds it with python3 again. To keep one
# venv per Python side by side, name it: `make test PYTHON=python3.13 VENV=.venv-3.13`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# e.g. cpython-313; the stamp of a venv names the Python it was built with
PY_TAG := $(shell $(PYTHON) -c 'import sys; print(sys.implementation.cache_tag)' 2>/dev/null)
STAMP  := $(VENV)/.installed-$(or $(PY_TAG),no-python)
# Tesseract with Simplified Chinese (+ osd for orientation); CJK fonts for the
# synthetic pages and the viewer's watermark; Chromium for the browser tests
# (driven by Playwright; never `playwright install`).
APT_PACKAGES := tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-eng tesseract-ocr-osd \
                fonts-wqy-zenhei fonts-wqy-microhei fonts-arphic-uming fonts-arphic-ukai fonts-dejavu-core \
                chromium
# HUDANG_TEST_POSTGRES=1 make test: the suite as a province runs it, every catalogue on a
# throw-away PostgreSQL cluster that each test process starts and deletes
# (tests/pg_support.py), and the several-worker test's job queue on a throw-away Redis
# (tests/redis_support.py); it needs Debian's server binaries, and nothing else runs them.
ifneq ($(filter-out 0,$(HUDANG_TEST_POSTGRES)),)
APT_PACKAGES += postgresql redis-server
endif
DEMO_HOME ?= demo-data
DEMO_KEY  ?= $(HOME)/.config/hudang/demo.key

.PHONY: demo test system venv catalogues clean-demo bench-ocr translations

demo: system venv catalogues
	HUDANG_HOME=$(DEMO_HOME) HUDANG_MASTER_KEY_FILE=$(DEMO_KEY) $(BIN)/hudang demo

# the suite on every core (pytest-xdist); a module's tests stay on one worker, so that its
# archive is built once. With HUDANG_TEST_POSTGRES=1, on PostgreSQL (docs/postgresql.md).
test: system venv catalogues
	$(BIN)/python -m pytest -q -ra -n auto --dist loadfile

system:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make: these Debian packages are missing:$$missing (run as root, or install them)"; exit 1; fi; \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

venv: $(STAMP)

# Built afresh when pyproject.toml changes or the venv is another Python's, so that
# a dependency dropped from pyproject.toml does not linger in it.
$(STAMP): pyproject.toml
	@test -n "$(PY_TAG)" || { echo "make: PYTHON=$(PYTHON) does not run a Python"; exit 1; }
	@if [ -f $(VENV)/pyvenv.cfg ]; then echo "rebuilding $(VENV) with $(PYTHON) ($(PY_TAG))"; rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# The interface's gettext catalogues compiled to .mo (an installed hudang compiles them at
# build time; a checkout compiles them here, so an edited .po is always in use).
catalogues: venv
	@$(BIN)/pybabel -q compile -d web/translations

# Interface strings: gather new ones from web/ into both catalogues (then translate the
# Chinese ones in web/translations/zh_Hans_CN/LC_MESSAGES/messages.po) and compile them.
translations: venv
	$(BIN)/pybabel -q extract -F web/babel.cfg -k lazy_gettext -k _ -k N_ --no-location --sort-output \
	  -o web/translations/messages.pot .
	$(BIN)/pybabel -q update -i web/translations/messages.pot -d web/translations \
	  --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel -q compile -d web/translations

# OCR engines on synthetic clean/degraded pages and the real scans (docs/benchmarks.md)
bench-ocr: system venv
	$(BIN)/python bench/ocr_bench.py

clean-demo:
	rm -rf $(DEMO_HOME) $(DEMO_KEY)

# Benchmarks (bench/; raw results in bench/out/, figures rewritten into docs/benchmarks.md).
# `bench` is the full suite (< 30 min), `bench-quick` the reduced one (< 5 min).
# OCRmyPDF, the ingest peer, lives in its own venv, never in $(VENV).
BENCH_APT      := ghostscript
BENCH_OCRMYPDF := bench/.venv-ocrmypdf

.PHONY: bench bench-quick bench-setup

bench: bench-setup
	$(BIN)/python -m bench.run

bench-quick: bench-setup
	$(BIN)/python -m bench.run --quick

bench-setup: system venv
	@missing=""; for p in $(BENCH_APT); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make: these Debian packages are missing:$$missing (run as root, or install them)"; exit 1; fi; \
	  echo "installing:$$missing"; \
	  apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@$(BIN)/python -c "import pyinstrument, psutil" 2>/dev/null || $(BIN)/python -m pip install -q -e '.[bench]'
	@test -x $(BENCH_OCRMYPDF)/bin/ocrmypdf || { $(PYTHON) -m venv $(BENCH_OCRMYPDF) && \
	  $(BENCH_OCRMYPDF)/bin/python -m pip install -q --upgrade pip && \
	  $(BENCH_OCRMYPDF)/bin/python -m pip install -q ocrmypdf; }
