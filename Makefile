# PeepoPay: `make run` starts the product, `make test` runs every test. Both install what they need.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTHON  ?= python3
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PG_BIN  := /usr/lib/postgresql/15/bin

.PHONY: run test lint fmt install system-deps browser-deps bench bench-pg screenshots clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Servers the tests start themselves: PostgreSQL's binaries and Chromium, from Debian; promtool
# and amtool, which check the alert rules and the monitoring configuration.
system-deps:
	@missing=""; \
	[ -x $(PG_BIN)/postgres ] || missing="$$missing postgresql-15"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	[ -x /usr/bin/promtool ] || missing="$$missing prometheus"; \
	[ -x /usr/bin/amtool ] || missing="$$missing prometheus-alertmanager"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# axe-core for the browser tests' accessibility checks, at the version package-lock.json pins.
AXE := tests/browser/node_modules/axe-core/axe.min.js
$(AXE): tests/browser/package.json tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund
	touch $(AXE)

browser-deps: system-deps $(AXE)

run: install
	$(PY) -m devstack

test: install system-deps browser-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Benchmarks, not tests: each prints its budgets as ok or OVER (README, Performance).
bench: install system-deps
	$(PY) -m bench

# At the size of a real platform on PostgreSQL: 10,000 tradies and 1,000,000 bookings (COPY).
bench-pg: install system-deps
	$(PY) -m bench --pg

# The dashboard in Chromium at 375 px and 1280 px: starts the app on a throwaway SQLite database
# with demo data and writes docs/screenshots/dashboard-*.png (fails on sideways scrolling).
screenshots: install system-deps
	$(PY) scripts/screenshots.py

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
