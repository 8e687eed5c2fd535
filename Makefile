# make run    install, fetch the sample videos if needed, run the whole pipeline with Prefect
# make test   install, run the test suite
# make serve  start a local Prefect server and serve the scheduled retrain deployment
# Every target can be run again safely.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
VIDEOS ?=
PORT ?= 5000
PREFECT_PORT ?= 4200

export PATH := $(BIN):$(PATH)
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export MLFLOW_DISABLE_TELEMETRY ?= true
export DVC_NO_ANALYTICS ?= 1
export DO_NOT_TRACK ?= 1
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 90
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PYTHONUNBUFFERED ?= 1

.PHONY: install init run test mlflow-ui clean-runs serve serve-stop

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

init: install
	test -d .git || git init --quiet
	test -d .dvc || $(BIN)/dvc init --quiet
	$(BIN)/dvc config core.analytics false

run: init
ifeq ($(strip $(VIDEOS)),)
	$(BIN)/python -m instructmove.samples --from-params params.yaml
	$(BIN)/python flows/pipeline.py
else
	$(BIN)/python flows/pipeline.py --set 'ingest.videos_dir=$(VIDEOS)'
endif

test: install
	$(BIN)/python -m pytest

mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db --host 127.0.0.1 --port $(PORT)

# Start `prefect server` on 127.0.0.1 in the background unless one already answers (log and pid in
# PREFECT_HOME), wait until it is healthy, then serve the retrain deployment on its cron schedule
# from params.yaml. Ctrl-C stops serving; `make serve-stop` stops the server.
serve: init
	mkdir -p $(PREFECT_HOME)
	curl -sf http://127.0.0.1:$(PREFECT_PORT)/api/health >/dev/null || { \
		$(BIN)/prefect server start --host 127.0.0.1 --port $(PREFECT_PORT) > $(PREFECT_HOME)/server.log 2>&1 & \
		echo $$! > $(PREFECT_HOME)/server.pid; }
	for attempt in $$(seq 1 120); do \
		curl -sf http://127.0.0.1:$(PREFECT_PORT)/api/health >/dev/null && exit 0; sleep 1; \
	done; echo "Prefect server not healthy after 120 s; see $(PREFECT_HOME)/server.log" >&2; exit 1
	PREFECT_API_URL=http://127.0.0.1:$(PREFECT_PORT)/api $(BIN)/python flows/retrain.py --serve

serve-stop:
	test -f $(PREFECT_HOME)/server.pid && kill $$(cat $(PREFECT_HOME)/server.pid) && rm $(PREFECT_HOME)/server.pid || true

# Remove run artefacts and tracking stores (not the videos, not the caches).
clean-runs:
	rm -rf data/pairs data/triplets.parquet data/dataset data/validation data/evaluation data/videos.parquet \
		models metrics mlflow.db mlruns
