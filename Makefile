# semantic-vae: `make help` lists the targets.
PYTHON ?= python3
TORCH ?= torch
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export WANDB_MODE ?= offline
export WANDB_SILENT ?= true

.PHONY: help install test demo bench ablation clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the package (editable, with test extras)

test: install  ## run the test suite
	$(PY) -m pytest -q

demo: install  ## train, test and edit on the synthetic default; writes outputs/demo/
	$(PY) -m semantic_vae.runs.demo

bench: install  ## speed benchmarks; writes outputs/bench.json (QUICK=1 for a short run)
	$(PY) -m semantic_vae.bench $(if $(QUICK),--quick,)

DATA ?=
GPUS ?=
ablation: install  ## Table 1 as a local W&B grid (DATA=/path/to/CelebAMask-HQ GPUS=8 for paper scale)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m semantic_vae.runs.ablation $(if $(DATA),--data $(DATA),) $(if $(GPUS),--gpus $(GPUS),)

clean:  ## remove outputs and caches (keeps .venv)
	rm -rf outputs data_cache results wandb lightning_logs
