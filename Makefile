# semantic-vae: `make help` lists the targets.
PYTHON ?= python3
# The torch requirement. On a machine without a GPU, also give PyTorch's CPU wheel index
# (TORCH_INDEX=https://download.pytorch.org/whl/cpu) so pip does not pull several GB of CUDA wheels.
TORCH ?= torch
TORCH_INDEX ?=
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APP_STAMP := $(VENV)/.installed-app
export WANDB_MODE ?= offline
# setuptools' "Editable installation" note (a build-backend warning pip passes on): information with nothing to act on.
EDITABLE_NOTE := PYTHONWARNINGS="$${PYTHONWARNINGS:+$$PYTHONWARNINGS,}ignore:Editable installation"
export WANDB_SILENT ?= true

.PHONY: help install install-app test demo bench ablation app screenshot precision-check gpu-check clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)
	$(EDITABLE_NOTE) $(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

$(APP_STAMP): $(STAMP)
	$(EDITABLE_NOTE) $(PY) -m pip install -q -e ".[test,app]"
	touch $(APP_STAMP)

install: $(STAMP)  ## create .venv and install the package (editable, with test extras)

install-app: $(APP_STAMP)  ## add the web editor's extra (Gradio) to .venv

test: install-app  ## lint and format check (ruff), the import layers (lint-imports), then the test suite
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -n 2 --dist loadfile  # two workers, one thread each (tests/conftest.py)

demo: install  ## train, test and edit on the synthetic default; writes outputs/demo/
	$(PY) -m semantic_vae.runs.demo

bench: install  ## speed benchmarks; writes outputs/bench.json (QUICK=1 short; PROFILE=1 where a step's time goes)
	$(PY) -m semantic_vae.bench $(if $(QUICK),--quick,) $(if $(PROFILE),--profile --out outputs/profile.json,)

DATA ?=
GPUS ?=
ablation: install  ## Table 1 as a local W&B sweep (DATA=/path/to/CelebAMask-HQ GPUS=8 for paper scale)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m semantic_vae.runs.ablation $(if $(DATA),--data $(DATA),) $(if $(GPUS),--gpus $(GPUS),)

precision-check: install  ## the demo's training in fp32 and in bf16 with one seed, side by side (outputs/precision/)
	$(PY) -m semantic_vae.runs.precision

gpu-check: install  ## on a GPU machine: every GPU path checked (< 8 min), then `make bench`
	$(PY) -m semantic_vae.runs.gpu_check

CKPT ?= $(firstword $(wildcard outputs/demo/run/checkpoints/best-*.ckpt) $(wildcard outputs/demo/run/checkpoints/last.ckpt))
HOST ?= 127.0.0.1
PORT ?= 7860
app: install-app  ## the mask editor in the browser on the demo model (or CKPT=...); HOST, PORT
	@test -n "$(CKPT)" || { echo "make app: no checkpoint: run 'make demo' first, or give one: make app CKPT=path/to/model.ckpt"; exit 2; }
	$(PY) -m semantic_vae app --ckpt "$(CKPT)" --host $(HOST) --port $(PORT)

screenshot: install-app  ## refresh the README's picture of the web editor (the browser test's 1400x900 window)
	SEMANTIC_VAE_SCREENSHOT=semantic_vae/app/screenshot.png $(PY) -m pytest -q tests/test_app.py -k real_browser

clean:  ## remove outputs and caches (keeps .venv)
	rm -rf outputs data_cache results wandb lightning_logs
