# ClassKit: `make run` sets everything up and runs the demo; `make test` runs all tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# A plain `torch` requirement pulls a multi-GB CUDA build; install the CPU wheel first.
TORCH_SPEC ?= torch==2.13.0
STAMP  := $(VENV)/.classkit-setup

.PHONY: setup run test lint bench clean dist dist-test

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py scripts/system-deps.sh
	@bash scripts/system-deps.sh
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ClassKit needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -c 'import torch' 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)
	@echo "ClassKit is set up: $(BIN)/classkit"

run: setup
	$(BIN)/classkit demo demo
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY$$QT_QPA_PLATFORM" ]; then $(BIN)/classkit gui demo/project; \
	else echo "No display here, so the app was not opened. On a desktop: $(BIN)/classkit gui demo/project"; fi

lint: setup
	$(BIN)/ruff check engine cli app models tests benchmarks scripts packaging
	VENV=$(VENV) bash scripts/lint-imports.sh

test: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/map.py
	$(BIN)/python benchmarks/app_start.py
	$(BIN)/python benchmarks/label_latency.py

# The standalone bundle (PyInstaller, one folder) and its .tar.gz, under dist/.
dist: setup
	VENV=$(VENV) bash scripts/build_dist.sh

# Build it, unpack it into a fresh folder and run it without the venv, sources or network.
dist-test: dist
	bash scripts/dist_test.sh

clean:
	rm -rf $(VENV) demo build dist *.egg-info
