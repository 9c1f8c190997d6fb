# Two commands set everything up on a fresh clone: `make train` and `make test`.
# Both create the virtual environment if missing and fill the data folder from a local mirror if one
# exists (DATA_MIRROR, default ../shared/datasets); without a mirror the code downloads as usual.

PYTHON_BOOT ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
DATA_DIR    ?= data
DATA_MIRROR ?= ../shared/datasets
export RVT_DATA_DIR ?= $(abspath $(DATA_DIR))
export WANDB_MODE ?= offline
# Hydra overrides passed through, e.g. `make train ARGS="dataset=fashion_mnist transform=random"`
ARGS        ?=

.PHONY: env data train test bench information sweep sweep-keyed sweep-strength sweep-mlp sweep-vortices collect table security frontier gpu-check clean

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

data: $(DATA_DIR)/.ready

$(DATA_DIR)/.ready:
	@if [ -x "$(DATA_MIRROR)/unpack.sh" ] || [ -f "$(DATA_MIRROR)/unpack.sh" ]; then \
		bash "$(DATA_MIRROR)/unpack.sh" "$(DATA_DIR)" && touch $@; \
	else \
		echo "no local data mirror at $(DATA_MIRROR): datasets will be downloaded on first use"; \
		mkdir -p $(DATA_DIR); \
	fi

train: env data
	$(PY) train.py $(ARGS)

test: env data
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: env data
	$(PY) -m rvt bench

information: env data
	$(PY) experiments/information.py

# The results grid (experiments/README.md), one run directory each under
# outputs/multirun/<time>/<n>-<dataset>-<model>-<transform>-<augment>-s<seed>/ (experiments/README.md).
# EXPERIMENT=paper for the authors' settings (GPU workstation: `RVT_LOCAL_GPUS=1 make sweep ARGS=trainer=gpu`;
# cluster: LAUNCHER=slurm). LAUNCHER=local (default) runs each job in its own process, one after the other
# (RVT_LOCAL_JOBS=n at once): one failed job does not stop the others; slurm submits a job array
# (conf/hydra/launcher/); basic is Hydra's in-process launcher. Run a chunk by narrowing the *_ARGS, e.g.
# `make sweep SWEEP_ARGS="dataset=mnist model=resnet,vit transform=none,rvt,random seed=0"`.
EXPERIMENT  ?= quick
LAUNCHER    ?= local
# the grids are config files, conf/grid/<name>.yaml (Hydra sweeper params); a command-line value narrows one
# axis, e.g. `make sweep SWEEP_ARGS="dataset=mnist seed=0"` (SWEEP_ARGS, KEYED_ARGS, STRENGTH_ARGS, ARGS: all
# passed through as overrides)
SWEEP_ARGS    ?=
KEYED_ARGS    ?=
STRENGTH_ARGS ?=
MLP_ARGS      ?=
LAUNCH      := hydra/launcher=$(LAUNCHER)
# the grids' ViT axis is the quick recipes' small ViT (model=vit); the paper's experiments take the paper's
# ViT-B/16 (model=vit_b16) instead, unless the command line names the models itself
comma       := ,
GRID_MODELS  = $(if $(filter paper%,$(EXPERIMENT)),$(if $(findstring model=,$(SWEEP_ARGS) $(KEYED_ARGS) $(STRENGTH_ARGS) $(ARGS)),,model=resnet$(comma)vit_b16))
# REPORT_ARGS, e.g. "--wandb" or "--runs outputs/multirun/2026-01-01_12-00-00"
REPORT_ARGS ?=

# the paper's shape: plain, RVT and the per-image random permutation, 3 seeds (conf/grid/paper.yaml)
sweep: env data
	$(PY) train.py -m $(LAUNCH) experiment=$(EXPERIMENT) +grid=paper $(GRID_MODELS) $(SWEEP_ARGS) $(ARGS)

# every keyed transform in both augmentation orders (conf/grid/keyed.yaml)
sweep-keyed: env data
	$(PY) train.py -m $(LAUNCH) experiment=$(EXPERIMENT) +grid=keyed $(GRID_MODELS) $(KEYED_ARGS) $(ARGS)

# RVT with generated keys of 1 to 40 vortices (conf/grid/strength.yaml)
sweep-strength: env data
	$(PY) train.py -m $(LAUNCH) experiment=$(EXPERIMENT) +grid=strength $(GRID_MODELS) $(STRENGTH_ARGS) $(ARGS)

# the order-agnostic control: an MLP on plain, fixed-permutation and per-image random images (conf/grid/mlp_control.yaml)
sweep-mlp: env data
	$(PY) train.py -m $(LAUNCH) experiment=$(EXPERIMENT) +grid=mlp_control $(MLP_ARGS) $(ARGS)

# the former name of sweep-strength
sweep-vortices: sweep-strength

# copy finished runs' results.json from outputs/ into experiments/results/{runs,superseded,probes}/
COLLECT_ARGS ?= outputs/multirun
collect: env
	$(PY) experiments/collect.py $(COLLECT_ARGS)

table: env
	$(PY) experiments/report.py $(REPORT_ARGS)

security: env data
	$(PY) experiments/security.py

# the prepared GPU check (experiments/gpu_check.py): CUDA tests, rvt bench, MNIST ResNet none/rvt/random;
# GPU_CHECK_ARGS=--small runs it on the CPU in minutes
gpu-check: env data
	$(PY) experiments/gpu_check.py $(GPU_CHECK_ARGS)

# the utility-security frontier from runs.csv (make table) and security.csv (make security)
frontier: env
	$(PY) experiments/frontier.py

clean:
	rm -rf $(VENV) .pytest_cache
