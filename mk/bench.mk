# Benchmarks (owned by the bench area): libfluximage against libcurl, Python requests and Go
# net/http, all in one run. Not part of `make test`.
#
#   make bench          builds the peers, starts the emulator on loopback, runs every figure
#                       (about 8 minutes on 2 cores, bounded at 10), prints the tables and writes
#                       benches/results.json and benches/results.md
#   make bench-venv     only the Python venv with `requests` (build/bench-venv)
#
# Variables (environment): BENCH_WAN_REPS=1, BENCH_REPS=3, BENCH_ROUND_TRIPS=5000, BENCH_BUILD=0 (skip the
# cold release build), BENCH_ONLY=1,3 (some figures only), BENCH_LIBDIR=DIR (measure another
# build of the library); see benches/run.py.
#
# Needs: cc, pkg-config, libcurl's development files (Debian: libcurl4-openssl-dev), Go,
# python3 with venv (Debian: python3-venv) and PyPI for `requests` (installed into
# build/bench-venv, nothing outside build/), rsync (figure 7). Generated inputs (~560 MB) are kept in
# build/bench/data for the next run.

BENCH_PYTHON ?= python3
BENCH_VENV   := $(BUILD)/bench-venv
BENCH_TIMEOUT ?= 600

.PHONY: bench bench-venv

$(BENCH_VENV)/.ready: mk/bench.mk
	rm -rf $(BENCH_VENV)
	$(BENCH_PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --disable-pip-version-check --quiet "requests>=2.28,<3"
	touch $@

bench-venv: $(BENCH_VENV)/.ready

bench: lib emulator $(PC) $(BENCH_VENV)/.ready
	PYTHON_BENCH=$(CURDIR)/$(BENCH_VENV)/bin/python timeout $(BENCH_TIMEOUT) $(BENCH_PYTHON) benches/run.py
