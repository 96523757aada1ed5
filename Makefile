# The front door. `make help` lists the targets; every target honours the environment
# variables in .env.example (set them in the environment, or in .env for the Python programs).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KAFKA := local-kafka/kafka.sh

.PHONY: help setup run broker-up broker-down produce spark clean lint format test

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt producer/requirements.txt spark/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "Python 3.10+ is needed (PYTHON=$(PYTHON))" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed ## create .venv, install the pinned packages and fetch Kafka (idempotent)
	@$(KAFKA) install

run: setup ## the whole pipeline from a clean slate: broker, job, producer; prints the result
	$(PY) scripts/run_local.py

broker-up: setup ## start the local Kafka broker (KRaft) on localhost:9092 and create the topic
	@$(KAFKA) up

broker-down: ## stop the local Kafka broker
	@$(KAFKA) down

produce: setup ## send TICKET_COUNT tickets to the topic
	$(PY) producer/producer.py

spark: setup ## run the streaming job in the foreground (Ctrl-C stops it cleanly)
	$(PY) spark/spark_streaming.py

clean: ## reset broker data, output and checkpoints (keeps the Ivy and Kafka caches)
	@$(KAFKA) reset
	rm -rf data/output data/checkpoints data/logs

lint: setup ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: setup lint ## everything: lint, unit tests, end-to-end tests against a real local broker
	$(PY) -m pytest
