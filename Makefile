# Two entry points: `make demo` (RGB-D from the bundled model) and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0" || $(PY) -m pip install -q "torch<=2.14.1"
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/mofo generate --prompt "a small red sphere in front of a blue striped box on a wooden floor" --out outputs

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest
