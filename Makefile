# Two commands, each works by itself on a fresh machine:
#   make demo   - set up .venv with the core only (no torch), then detect audible actions in the bundled example
#   make test   - set up .venv with everything (all extras + dev tools), then run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet -c constraints.txt
CORE_STAMP := $(VENV)/.core-stamp
ALL_STAMP := $(VENV)/.all-stamp
OUT ?= out

.PHONY: demo test install docs lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(CORE_STAMP): pyproject.toml constraints.txt | $(PY)
	$(PIP) -e .
	touch $(CORE_STAMP)

$(ALL_STAMP): pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[all,dev,docs]'
	# aisfx (MC3's sound-effects encoder) pins old numpy/librosa it does not need: installed without them
	$(PIP) --no-deps aisfx
	touch $(ALL_STAMP) $(CORE_STAMP)

install: $(ALL_STAMP)

demo: $(CORE_STAMP)
	mkdir -p $(OUT)
	$(VENV)/bin/actiondubber detect examples/bouncing_balls.mp4 --json $(OUT)/events.json --csv $(OUT)/events.csv \
		--plot $(OUT)/curve.png --labels examples/bouncing_balls_labels.csv --force
	$(VENV)/bin/actiondubber evaluate --pred $(OUT)/events.json --labels examples/bouncing_balls_labels.csv
	$(VENV)/bin/actiondubber flow examples/bouncing_balls.mp4 -o $(OUT)/flow_preview.mp4 --force
	@echo "demo outputs in $(OUT)/: events.json events.csv curve.png flow_preview.mp4"
	@echo "run the other commands as $(VENV)/bin/actiondubber ... (or 'source $(VENV)/bin/activate' first)"

test: $(ALL_STAMP)
	$(PY) -m pytest -q

docs: $(ALL_STAMP)
	$(VENV)/bin/mkdocs build --strict

lint: $(ALL_STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) $(OUT) build/site
