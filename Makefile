# Needlepoint: `make run` starts the app on the simulator; `make test` runs every test.
# Both set up everything they need on a fresh Debian machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Debian packages: PortAudio for sounddevice, mtdev, Mesa GL and xsel (its X11 cut buffer:
# without it every window start logs two tracebacks) for Kivy; for the tests
# also Xvfb (a display), JACK (a sound card that runs at real pace), socat, sqlite3 and
# poppler-utils (pdftotext and pdftoppm read the PDF note back: its font is embedded),
# faketime (libfaketime: the app run at past dates, for a history made on screen),
# postgresql (a throwaway clinic server, tests/pgserver.py: initdb, a Unix socket only).
DEBS_RUN  := libportaudio2 libmtdev1 libgl1 libgl1-mesa-dri libegl1 xsel
DEBS_TEST := $(DEBS_RUN) xvfb xauth jackd2 socat sqlite3 python3-venv poppler-utils \
             faketime postgresql

export KIVY_NO_ARGS := 1
export KIVY_NO_CONSOLELOG := 1
export KIVY_CLIPBOARD := sdl2
export KIVY_HOME := $(CURDIR)/var/kivy
export NEEDLEPOINT_HOME ?= $(CURDIR)/var

.PHONY: run test lint venv clean

run: $(STAMP)
	@tools/ensure-debs.sh $(DEBS_RUN)
	$(BIN)/needlepoint gui

test: $(STAMP)
	@tools/ensure-debs.sh $(DEBS_TEST)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || tools/ensure-debs.sh python3-venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
