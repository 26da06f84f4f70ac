# surg_perception developer entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: env test test-fast demo reliability bench clean help

help:
	@echo "make env          build .venv (pinned torch, ROS 2 Jazzy wheels, generated messages, this package)"
	@echo "make test         build the env if needed and run the whole test suite"
	@echo "make demo         the main job: synthetic video -> node over DDS -> bag + overlays + summary"
	@echo "make bench        inference benchmark (appends to BENCHMARKS.md)"
	@echo "make reliability  long fuzz/soak/lifecycle runs at full counts (writes RELIABILITY.md; not in CI)"

env:
	@bash scripts/setup_env.sh

test: env
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: env
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

# make demo STEREO=1: a stereo video, left + right + camera_info; the summary adds tip errors
demo: env
	$(PY) -m surg_perception.demo --work .demo --model-config config/models/tiny.yaml \
		--train-config config/train/demo.yaml $(if $(filter 1 yes true,$(STEREO)),--stereo)

bench: env
	$(VENV)/bin/surg-perception bench

reliability: env
	$(PY) -m pytest -q test/reliability --full-counts

clean:
	rm -rf build install log .demo
