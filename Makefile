# The front door. `make help` lists the targets; every target honours the environment
# variables in .env.example (set them in the environment, or in .env for the Python programs).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KAFKA := local/kafka/kafka.sh
DCLINT_VERSION := 3.1.0
DCLINT := .cache/npm/node_modules/.bin/dclint
PY313_VENV := .cache/python3.13
DOCKERFILES := producer/Dockerfile spark/Dockerfile redpanda/Dockerfile redpanda/certs/Dockerfile tests/compose/standins/*/Dockerfile
# Docker Compose v2 (`docker compose`) where it is installed, else the classic `docker-compose`
# (1.29, as Debian 12 and Ubuntu 22.04 ship it): the stack works with both.
ifndef COMPOSE
COMPOSE := $(shell docker compose version >/dev/null 2>&1 && echo docker compose || echo docker-compose)
endif
# Every form of the stack: `make down`, `logs` and `clean` act on whichever runs.
ALL_STACK_FILES := --file docker-compose.yml --file docker-compose.cluster.yml --file docker-compose.secured.yml \
	--file docker-compose.monitoring.yml --file docker-compose.lake.yml
SECRETS := admin producer spark console
# Compose is only driven where a Docker engine answers.
DOCKER_ENGINE := $(shell docker info >/dev/null 2>&1 && $(COMPOSE) version >/dev/null 2>&1 && echo yes)

.PHONY: help setup lock env-example run query broker-up broker-down produce spark up up-cluster up-secured up-monitoring up-lake certs-renew secrets down logs clean clean-all lint format \
	test test-tools test-cluster test-compose compose-images \
	reliability-report soak bench bench-quick pictures

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-19s %s\n", $$1, $$2}'

# Every Python package comes from a lock with its hashes (pip itself too): pip refuses a file whose
# hash differs from the one recorded when the lock was made (make lock; docs/SECURITY.md).
PIP_INSTALL = -m pip install --quiet --disable-pip-version-check --require-hashes

$(VENV)/.installed: requirements-dev.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "Python 3.10+ is needed (PYTHON=$(PYTHON))" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) $(PIP_INSTALL) -r requirements-dev.lock
	$(PY) -m pip install --quiet --no-deps --editable .
	touch $@

# The locks, made from the requirements files (the pins people edit) by pip-tools: every package a
# pin needs, each with the hashes of its published files. The Spark image's leaves pyspark out (the
# image has its own; the "not pinned" warning in it is about pyspark only). A unit test holds each
# lock to its requirements file.
LOCK := $(VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
	--no-emit-trusted-host --no-emit-find-links
lock: setup ## make the hash locks again from the requirements files, after a pin changed
	$(LOCK) --allow-unsafe -o producer/requirements.lock producer/requirements.txt
	$(LOCK) --unsafe-package pyspark -o spark/requirements.lock spark/requirements.txt
	$(LOCK) --allow-unsafe -o requirements-dev.lock requirements-dev.txt
	$(LOCK) --allow-unsafe -o requirements-bench.lock requirements-bench.txt

setup: $(VENV)/.installed ## create .venv, install the pinned packages and fetch Kafka (idempotent)
	@$(KAFKA) install

run: setup ## the whole pipeline from a clean slate: broker, job, producer; prints the result
	$(PY) -m tickets_local run

broker-up: setup ## start the local Kafka broker (KRaft) on localhost:9092 and create the topic
	@$(KAFKA) up

broker-down: ## stop the local Kafka broker
	@$(KAFKA) down

cluster-up: setup ## start the local cluster: 3 Kafka nodes (localhost:9192,9194,9196; RF 3) and Spark (master spark://127.0.0.1:7077, 2 workers)
	@$(PY) -m tickets_local cluster up

cluster-run: setup ## the pipeline of `make run` on the local cluster (started if down, left running); prints the result
	$(PY) -m tickets_local run --cluster

cluster-down: ## stop the local cluster (its data stays until make clean)
	@$(PY) -m tickets_local cluster down

env-example: setup ## write .env.example from the programs' settings (each variable's default and help)
	$(PY) -m tickets_local.env_example

query: setup ## SQL over the lake's Delta tables with DuckDB (SQL="..."; default: the last hour's tickets by team and priority)
	$(PY) -m tickets_query $(if $(SQL),'$(subst ','\'',$(SQL))')

produce: setup ## send TICKET_COUNT tickets to the topic
	$(PY) -m tickets_producer

spark: setup ## run the streaming job in the foreground (Ctrl-C stops it cleanly)
	$(PY) -m tickets_job

up: ## the Docker stack: docker compose up --build, in the background (then: make logs)
	$(COMPOSE) up --build --detach
	@running=$$($(COMPOSE) ps --services --filter status=running); \
	for line in "console Console: http://localhost:8080" \
	    "spark-master Spark master UI: http://localhost:8081" \
	    "spark Spark UI: http://localhost:4040   progress: docker logs -f spark" \
	    "prometheus Prometheus: http://localhost:9090" \
	    "grafana Grafana: http://localhost:3000   (dashboard: Client tickets pipeline)" \
	    "s3 S3 API, the lake's bucket tickets-lake: http://localhost:9000   (make query: docs/DOCKER.md)"; do \
	  if grep -qx "$${line%% *}" <<<"$$running"; then echo "$${line#* }"; fi; \
	done

up-cluster: secrets/spark_auth ## the cluster form of the Docker stack (docker-compose.cluster.yml over docker-compose.yml): 3 Redpanda brokers, a Spark master and 2 workers that take only applications with its secret
	COMPOSE_FILE=$${COMPOSE_FILE:-docker-compose.yml:docker-compose.cluster.yml} $(MAKE) up

up-secured: secrets ## the secured form of the Docker stack (docker-compose.secured.yml over docker-compose.yml): SASL/SCRAM over TLS, a user per service, ACLs
	COMPOSE_FILE=$${COMPOSE_FILE:-docker-compose.yml:docker-compose.secured.yml} $(MAKE) up

up-monitoring: secrets/grafana_admin_password ## the monitoring form (docker-compose.monitoring.yml over docker-compose.yml): Prometheus on localhost:9090, Grafana on localhost:3000 with the pipeline's dashboard
	@# Bind-mounted into containers whose users are not the clone's owner (Prometheus runs as nobody,
	@# Grafana as uid 472): readable whatever umask the clone was made under.
	chmod -R a+rX monitoring
	COMPOSE_FILE=$${COMPOSE_FILE:-docker-compose.yml:docker-compose.monitoring.yml} $(MAKE) up

up-lake: secrets/lake_credentials ## the lake form (docker-compose.lake.yml over docker-compose.yml): the Delta tables and the checkpoint on an S3 server (S3Proxy) on localhost:9000
	COMPOSE_FILE=$${COMPOSE_FILE:-docker-compose.yml:docker-compose.lake.yml} $(MAKE) up

certs-renew: ## the secured stack's certificates made anew (a new CA too), then its running services restarted on them; data, topics and checkpoints are kept
	@export COMPOSE_FILE=$${COMPOSE_FILE:-docker-compose.yml:docker-compose.secured.yml}; \
	running=$$($(COMPOSE) ps --services --filter status=running); \
	$(COMPOSE) run --rm --no-deps certs --renew && \
	if [ -n "$$running" ]; then $(COMPOSE) restart $$running; fi

# The Spark cluster's secret and settings, a Docker secret of the cluster form (made once, kept).
secrets/spark_auth:
	@mkdir -p secrets && chmod 700 secrets
	@MODE=644 local/spark/auth.sh $@

secrets: $(SECRETS:%=secrets/%_password) ## a random password per user of the secured stack, in ./secrets (made once, kept; see docs/SECURITY.md)

# The lake form's key pair, as an AWS credentials file (S3Proxy and the job read it), made once.
secrets/lake_credentials:
	@mkdir -p secrets && chmod 700 secrets
	@(umask 022; key=$$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40) && \
	  printf '[default]\naws_access_key_id = tickets-lake\naws_secret_access_key = %s\n' "$$key" >$@.tmp) && \
	  mv $@.tmp $@ && echo "made $@"

# A random password (the secured stack's users, the monitoring form's Grafana admin), made once.
secrets/%_password:
	@mkdir -p secrets && chmod 700 secrets
	@# 0644: compose hands each file to its container as it is, to users other than the owner.
	@(umask 022; LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 >$@.tmp) && mv $@.tmp $@ && echo "made $@"

down: ## stop the Docker stack, whichever form runs (keeps its volumes)
	$(COMPOSE) $(ALL_STACK_FILES) down

logs: ## follow the Docker stack's logs
	$(COMPOSE) $(ALL_STACK_FILES) logs --follow

clean: ## reset everything a run leaves: local broker and cluster, Docker stack and volumes, output, lake, checkpoints, logs (keeps the Ivy and Kafka caches)
	@$(KAFKA) reset
	@if [ -x $(PY) ]; then $(PY) -m tickets_local cluster down; fi
ifeq ($(DOCKER_ENGINE),yes)
	$(COMPOSE) $(ALL_STACK_FILES) down --volumes --remove-orphans
endif
	rm -rf data/output data/checkpoints data/lake data/logs data/cluster

clean-all: clean ## clean, and delete the downloads too: Ivy cache, Kafka and npm caches, .venv, the stack's images
ifeq ($(DOCKER_ENGINE),yes)
	$(COMPOSE) $(ALL_STACK_FILES) down --rmi local
endif
	find ivy -mindepth 1 ! -name .gitkeep -delete
	rm -rf .cache $(VENV)

$(DCLINT):
	npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix .cache/npm dclint@$(DCLINT_VERSION)

lint: setup $(DCLINT) ## ruff; the import contract (lint-imports); hadolint on the Dockerfiles; the compose file against the Compose schema (dclint)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/hadolint $(DOCKERFILES)
	@# No top-level name: docker-compose 1.29 rejects it (the project is named after the folder).
	$(DCLINT) docker-compose.yml docker-compose.cluster.yml docker-compose.secured.yml docker-compose.monitoring.yml docker-compose.lake.yml --max-warnings 0 \
		--disable-rule services-alphabetical-order --disable-rule require-project-name-field

format: setup ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test-tools: $(PY313_VENV)/.installed ## the system tools the tests run beside the project's own: Prometheus and kcat (Debian's packages; installed as root if missing), Python 3.13
	@missing=$$(for tool in prometheus kcat; do command -v $$tool >/dev/null || echo $$tool; done); \
	[ -z "$$missing" ] || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } || \
	  { echo "the tests need" $$missing": sudo apt-get install" $$missing >&2; exit 1; }

# Python 3.13, whose ssl module verifies certificates strictly by default: the secured tests run the
# producer in it too (tests/e2e/test_security.py). The interpreter is python3.13 on the PATH (that
# runs: not a pyenv shim without it), else pyenv's; the environment gets the producer's packages.
$(PY313_VENV)/.installed: producer/requirements.lock
	@python=$$(for candidate in python3.13 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13; do \
	  $$candidate -c '' 2>/dev/null && { echo $$candidate; break; }; done); \
	[ -n "$$python" ] || { echo "the tests need Python 3.13: python3.13 on the PATH, or pyenv install 3.13" >&2; exit 1; }; \
	rm -rf $(PY313_VENV) && $$python -m venv $(PY313_VENV) && \
	$(PY313_VENV)/bin/python $(PIP_INSTALL) -r producer/requirements.lock && touch $@

# pytest in two workers, a test file at a time (a module's fixtures, such as the secured broker, are
# not shared between processes), the files in the order tests/conftest.py gives (the longest first).
PYTEST_WORKERS = -n 2 --dist loadfile --no-loadscope-reorder

test: setup lint test-tools ## everything: lint, unit and end-to-end tests on real local brokers, the cluster scenarios, the Docker stack (see docs/TESTING.md)
	@# Two lanes at once (most suites wait on processes more than they compute, and their ports
	@# differ): pytest in two workers; beside it the Docker test's engine, images and flows, then the
	@# cluster scenarios. The Docker test runs on overlay2 where it can (faster than vfs), at a lower
	@# CPU priority (nice, which the engine, its builds and its containers inherit): beside pytest
	@# at the same priority it took the CPU pytest needs. The cluster scenarios follow it at
	@# pytest's priority: after pytest, alone, they were the run's tail (docs/PERFORMANCE.md has the
	@# times). The second lane's output follows the first's.
	@mkdir -p data/logs
	@started=$$SECONDS; status=0; lane_log=data/logs/test-second-lane.log; \
	( code=0; t=$$SECONDS; nice -n 10 $(MAKE) --no-print-directory test-compose || code=1; \
	  echo "make test: test-compose (engine, images, flows) $$((SECONDS - t)) s"; \
	  t=$$SECONDS; $(MAKE) --no-print-directory test-cluster || code=1; \
	  echo "make test: test-cluster $$((SECONDS - t)) s"; exit $$code ) >$$lane_log 2>&1 & \
	second_lane=$$!; \
	t=$$SECONDS; $(PY) -m pytest $(PYTEST_WORKERS) || status=1; echo "make test: pytest $$((SECONDS - t)) s"; \
	echo "make test: waiting for the Docker test and the cluster scenarios (their log: $$lane_log)"; \
	wait $$second_lane || status=1; cat $$lane_log; \
	echo "make test: $$((SECONDS - started)) s in all, $$([ $$status = 0 ] && echo passed || echo FAILED)"; exit $$status

test-cluster: setup ## the five failure scenarios on a 3-node Kafka cluster and a 2-worker Spark cluster of their own, and the cluster's secret
	$(PY) -m pytest -m cluster tests/cluster

compose-images: setup ## the Docker test's tools and images: a Docker engine (started if none runs), both Compose tools, the stand-in images
	tests/compose/engine.sh up
	$(PY) -m tests.compose.images

test-compose: setup ## the Docker stack and its cluster and secured forms run for real, as a user would (starts a Docker engine if none runs, builds what it needs)
	@status=0; \
	$(MAKE) --no-print-directory compose-images && $(PY) -m pytest -m compose tests/compose || status=1; \
	$(PY) -m tests.compose.images --remove-builds; \
	tests/compose/engine.sh down; exit $$status

pictures: setup test-tools ## the pictures in docs/pictures (Spark's Structured Streaming tab, a Prometheus graph) from a real run, by headless Chromium (~3 min)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  { echo "the pictures need Chromium: sudo apt-get install chromium" >&2; exit 1; }
	$(PY) -m tickets_local pictures

reliability-report: setup ## run the reliability scenarios and write docs/reports/RELIABILITY.md from the run
	RELIABILITY_REPORT=docs/reports/RELIABILITY.md $(PY) -m pytest tests/e2e/test_reliability.py

soak: setup ## the kill -9 scenario with 30 kills (SOAK_KILLS, SOAK_SEED to change)
	SOAK_KILLS=$${SOAK_KILLS:-30} $(PY) -m pytest tests/e2e/test_reliability.py -k kill_9

$(VENV)/.bench-installed: $(VENV)/.installed requirements-bench.lock
	$(PY) $(PIP_INSTALL) -r requirements-bench.lock
	touch $@

bench: setup $(VENV)/.bench-installed ## measure against the baselines, three runs of each; writes docs/reports/BENCHMARKS.md and its plot (~30 min)
	$(PY) -m tickets_bench

bench-quick: setup $(VENV)/.bench-installed ## the benchmark at small sizes (a few minutes): checks every figure is produced
	$(PY) -m tickets_bench --quick

bench-scaling: setup $(VENV)/.bench-installed ## local[*] against the 2-worker Spark cluster on a 500k backlog; writes docs/reports/SCALING-FIGURES.md (~5 min)
	$(PY) -m tickets_bench.scaling
