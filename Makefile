# Quick start: `make demo` (set up, then run the autopilot on shipped data) and `make test`.
PYTHON ?= python3
UV := $(PYTHON) -m uv
VENV := .venv
STAMP := $(VENV)/.installed
DEMO_DIR := runs/demo

.PHONY: setup demo test lint clean

setup: $(STAMP)

# Bytecode is compiled at install (about 25 s): where PYTHONDONTWRITEBYTECODE=1 is set, as in
# many containers, every command would otherwise compile each library it imports (5-7 s a run).
$(STAMP): pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	UV_PYTHON=$(PYTHON) $(UV) sync --frozen --compile-bytecode
	$(VENV)/bin/python -m compileall -q src
	@touch $(STAMP)

demo: setup
	rm -rf $(DEMO_DIR)
	$(VENV)/bin/autopilot run demo/penguins.csv --target species --output-dir $(DEMO_DIR) \
		--time-budget 120 --max-iterations 8
	$(VENV)/bin/autopilot predict $(DEMO_DIR) demo/penguins.csv --out $(DEMO_DIR)/predictions.csv

test: setup
	$(VENV)/bin/pytest -q

lint: setup
	$(VENV)/bin/ruff check src tests bench

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
