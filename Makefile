# dcc — the two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
ARGS   ?=
# test workers (pytest-xdist, modules kept whole, the longest handed out first: tests/conftest.py); 0 = in this
# process. Two workers keep `.ci/run`, production shape included, inside its budget on 2 cores (README, "The
# two commands")
JOBS   ?= 2

.PHONY: demo test test-production bench serve lint install system-deps test-deps clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP) system-deps

system-deps:
	@bash scripts/system-deps.sh libharfbuzz-subset0

test-deps:
	@bash scripts/system-deps.sh libharfbuzz-subset0 poppler-utils libnss3-tools chromium softhsm2
	@test -f node_modules/axe-core/axe.min.js || npm ci --no-audit --no-fund --silent || npm install --no-audit --no-fund --silent

demo: install
	$(VENV)/bin/dcc demo $(ARGS)

test: install test-deps
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -n $(JOBS) --dist loadscope $(ARGS)

# the production-shape test alone (Prefect server, two workers, two SIGKILLs; 3-5 min on 2 cores), phases
# printed (-s); `make test` runs it too, first on one of its workers (README, "Deploying")
test-production: install test-deps
	$(VENV)/bin/pytest -m production_shape -s tests/integration $(ARGS)

bench: install test-deps
	DCC_BENCH=1 $(VENV)/bin/pytest tests/benchmarks -s -p no:cacheprovider $(ARGS)

serve: install
	$(VENV)/bin/dcc db upgrade
	@echo "Documents des séances validées : générés par le déploiement Prefect generate-pending-documents, ou par « dcc documents drain » sans serveur Prefect."
	$(VENV)/bin/uvicorn dcc.web.app:create_app --factory --host 127.0.0.1 --port $${PORT:-8000} --workers $${WORKERS:-1}

lint: install
	$(VENV)/bin/ruff check dcc flows tests scripts
	$(VENV)/bin/mypy dcc flows
	$(VENV)/bin/lint-imports

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
