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

.PHONY: env data train test bench information sweep table security clean

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

sweep: env data
	$(PY) train.py -m experiment=quick dataset=mnist,fashion_mnist model=resnet,vit transform=none,rvt,random seed=0,1,2 $(ARGS)

table: env
	$(PY) experiments/report.py

security: env data
	$(PY) experiments/security.py

clean:
	rm -rf $(VENV) .pytest_cache
