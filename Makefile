# recsite: the README's commands are `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run setup install migrate data demo model worker beat web prod test test-fast lint format \
	bench audit ci

run: setup ## install, migrate, import the bundled data, train a first model, start everything
# No shell between make and the script (no shell syntax on the line): sh would die of Ctrl-C's
# SIGINT before honcho has stopped, and make would say "Interrupt".
	$(PY) scripts/procfile_start.py -f Procfile

setup: install migrate data demo model

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "pip==26.3"  # 23.2.1, bundled with Python 3.11.7, has CVE-2023-5752
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

migrate: install
	$(PY) manage.py migrate --no-input

data: install
	$(PY) manage.py import_movielens

demo: install
	$(PY) manage.py create_demo_user

model: install ## train a first model when none is active (no-op otherwise)
	$(PY) manage.py bootstrap_model

web: install ## the development server, with DEBUG's error pages (local use only)
	DJANGO_DEBUG=1 $(PY) manage.py runserver 127.0.0.1:8000

worker: install
	$(VENV)/bin/celery -A recsite worker --loglevel INFO --concurrency 2

beat: install
	$(VENV)/bin/celery -A recsite beat --loglevel INFO

prod: install ## production: check the environment, collectstatic, migrate, gunicorn + worker + beat
	scripts/serve_production.sh

test: install ## the whole suite; CI runs it against Postgres and Redis with CI=true
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -m "not slow and not integration and not e2e"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy recommender/engine

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

audit: install ## installed packages vs PyPA advisories; ADVISORY_DB=<clone> refreshes the snapshot
	$(if $(ADVISORY_DB),$(PY) scripts/audit_deps.py --refresh $(ADVISORY_DB))
	$(PY) scripts/audit_deps.py

bench: install
	$(PY) -m recommender.engine benchmark --data data/ml-latest-small --format ml-latest-small

ci:
	bash .ci/run
