# Two commands, each works by itself on a fresh machine:
#   make demo   - set up .venv, then detect audible actions in the bundled example clip
#   make test   - set up .venv, then run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
OUT ?= out

.PHONY: demo test install lint clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[all]'
	$(PY) -m pip install --quiet --no-deps -c constraints.txt aisfx
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	mkdir -p $(OUT)
	$(VENV)/bin/actiondubber detect examples/bouncing_balls.mp4 --json $(OUT)/events.json --csv $(OUT)/events.csv \
		--plot $(OUT)/curve.png --labels examples/bouncing_balls_labels.csv
	$(VENV)/bin/actiondubber evaluate --pred $(OUT)/events.json --labels examples/bouncing_balls_labels.csv
	$(VENV)/bin/actiondubber flow examples/bouncing_balls.mp4 --out $(OUT)/flow_preview.mp4
	@echo "demo outputs in $(OUT)/: events.json events.csv curve.png flow_preview.mp4"

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) $(OUT)
