# Benchmarks (figures in BENCHMARKS.md; details in bench/README.md).
# `make bench` runs every script and the 10-minute soak; BENCH_ARGS adds options,
# e.g. `make bench BENCH_ARGS="--quick"` or `BENCH_ARGS="--only catalog,checkout"`.

PYTHON ?= .venv/bin/python
BENCH_ARGS ?=
SOAK_MINUTES ?= 10

.PHONY: bench soak

bench:
	$(PYTHON) -m bench $(BENCH_ARGS)

soak:
	$(PYTHON) -m bench --only soak --soak-minutes $(SOAK_MINUTES)
