# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs pdesurr, runs the main end-to-end job
#   make test   creates .venv, installs pdesurr with its test, MPI and fast extras, runs the tests
# torch: the CPU wheel by default (torch==2.13.0 lies on this machine's disk); on a GPU
# machine choose your build, e.g.  make test TORCH="torch>=2.3"
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pdesurr-installed

.PHONY: demo test test-all bench lint clean mutants

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test,mpi,fast]"
	# The Well's own loader checks pdesurr's exports (tests/test_export.py); the_well 1.2.0
	# pins fsspec==2024.10.0 (it runs with today's), so it is installed without its pins
	$(BIN)/python -m pip install -q --no-deps "the_well==1.2.0"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pdesurr demo --out out/demo

test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow or not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/solvers.py

# mutation testing (slow, not in CI): MUTATE selects mutants by name, e.g.
#   make mutants MUTATE='pdesurr.stream.ledger.*'   (default: every module in [tool.mutmut])
MUTATE ?= *
mutants: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[mutants]"
	OMP_NUM_THREADS=1 nice -n 19 $(BIN)/mutmut run --max-children 1 "$(MUTATE)"
	$(BIN)/mutmut results

lint: $(STAMP)
	$(BIN)/ruff check pdesurr tests benchmarks

clean:
	rm -rf $(VENV) out mutants
