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

.PHONY: env data train test bench information sweep sweep-vortices table security clean

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

# The paper's grid: 3 datasets x 2 models x 3 transforms x 3 seeds = 54 runs, one run directory each
# under outputs/multirun/<time>/<n>-<dataset>-<model>-<transform>-s<seed>/ (experiments/README.md).
# EXPERIMENT=paper for the authors' settings (GPU workstation: `RVT_LOCAL_GPUS=1 make sweep ARGS=trainer=gpu`;
# cluster: LAUNCHER=slurm). LAUNCHER=local (default) runs each job in its own process, one after the other
# (RVT_LOCAL_JOBS=n at once): one failed job does not stop the others; slurm submits a job array
# (conf/hydra/launcher/); basic is Hydra's in-process launcher.
EXPERIMENT  ?= quick
LAUNCHER    ?= local
SWEEP_ARGS  ?= dataset=mnist,fashion_mnist,cifar10 model=resnet,vit transform=none,rvt,random seed=0,1,2
VORTEX_ARGS ?= dataset=mnist model=resnet transform=rvt transform.vortices=1,2,5,10,20 seed=0,1,2
LAUNCH      := hydra/launcher=$(LAUNCHER)
# REPORT_ARGS, e.g. "--wandb" or "--runs outputs/multirun/2026-01-01_12-00-00"
REPORT_ARGS ?=

sweep: env data
	$(PY) train.py -m $(LAUNCH) experiment=$(EXPERIMENT) $(SWEEP_ARGS) $(ARGS)

# RVT strength: 1, 2, 5, 10, 20 vortices of the authors' MNIST key (plus the plain baseline the report needs:
# it comes from `make sweep`, or add it with SWEEP_ARGS="dataset=mnist model=resnet transform=none seed=0,1,2")
sweep-vortices: env data
	$(PY) train.py -m $(LAUNCH) experiment=$(EXPERIMENT) $(VORTEX_ARGS) $(ARGS)

table: env
	$(PY) experiments/report.py $(REPORT_ARGS)

security: env data
	$(PY) experiments/security.py

clean:
	rm -rf $(VENV) .pytest_cache
