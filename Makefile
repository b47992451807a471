# Entry points for users and CI (the README's commands). Every target that needs the project's
# environment builds it first: `make setup` is quick when nothing changed.
# Copyright 2026 The rtmdnet_ros Authors; SPDX-License-Identifier: Apache-2.0

SHELL := /bin/bash
# Any CPython 3.11 works (the ROS 2 Kilted wheels are cp311); setup_env.py also finds python3.11.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python

.PHONY: setup demo demo-detector test lint bench results clean distro-stacks

## setup: create/refresh .venv (ROS 2 Kilted wheels, torch CPU, interfaces, console scripts)
setup:
	@$(PYTHON) tools/setup_env.py

## demo: the ROS graph on a generated clip (ARGS="--sequence DIR" or "--video FILE --box x,y,w,h")
demo: setup
	@$(VPY) -m rtmdnet_ros.node.demo $(ARGS)

## demo-detector: the same graph started from a detector stand-in (ground truth published as
## vision_msgs/Detection2DArray; the node's auto_init and reinit_when_lost) instead of ~/init
demo-detector: setup
	@$(VPY) -m rtmdnet_ros.node.demo --from-detector $(ARGS)

## test: lint, then every test under test/ (exit 5 = no tests collected also fails)
# Test nodes discover peers on this machine only (test/conftest.py also claims a free domain).
# Modules run in TEST_WORKERS processes (whole modules: their launches are shared by their tests);
# the suite mostly waits on nodes and DDS, so two workers fit two cores (docs/setup.md).
TEST_WORKERS ?= 2
test: export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
test: setup
	@status=0; \
	$(VPY) -m ruff check . || status=1; \
	$(VPY) -m pytest test -n $(TEST_WORKERS) --dist loadfile || status=1; \
	exit $$status

## distro-stacks: the ROS-free core's tests under Humble's and Jazzy's Python/NumPy/OpenCV
# (.venv-humble: 3.10 + NumPy 1.21 + OpenCV 4.5.4; .venv-jazzy: 3.12 + 1.26 + 4.6; made once).
# `make test` runs the same through test/test_distro_stacks.py.
distro-stacks:
	@$(PYTHON) tools/distro_stacks.py

## lint: ruff (flake8/pep257/import order/licence headers), as configured in pyproject.toml
lint: setup
	@$(VPY) -m ruff check .

## bench: tracker speed and memory on CPU (bench/bench_tracker.py); override with BENCH_ARGS=...
## then the cost per frame with 1, 2 and 4 targets in one node (bench/bench_targets.py)
BENCH_ARGS ?= --max-frames 60 --threads 1
bench: setup
	@$(VPY) bench/bench_tracker.py $(BENCH_ARGS)
	@$(VPY) bench/bench_targets.py --threads 1

## results: regenerate docs/results.md (our tracker vs every available peer, development split).
# Finished (tracker, sequence, seed) runs in docs/results/runs are reused; RESULTS_ARGS=--force re-measures.
RESULTS_ARGS ?=
# Seeds run in JOBS parallel processes (bench/results_parallel.sh; default 2, this machine's cores).
results: setup
	@bash bench/results_parallel.sh $(RESULTS_ARGS)

## clean: remove the environment and build/test leftovers (sources are never touched)
clean:
	rm -rf $(VENV) .venv-humble .venv-jazzy build install log .pytest_cache .ruff_cache *.egg-info
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
