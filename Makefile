# flowloom developer commands. `make run` and `make test` are the README's quick start.
# uv from PATH when present, else the copy `make uv` installs into this Python.
UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PY_RUN = $(UV) run --frozen

.PHONY: uv run test check bench fmt

uv:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

run: uv
	$(UV) sync --frozen --no-dev --quiet
	$(UV) run --frozen --no-dev flowloom run examples/quickstart.json --inputs @examples/quickstart.inputs.json

test: uv
	$(UV) sync --frozen --quiet
	$(PY_RUN) pytest

check: uv
	$(UV) sync --frozen --quiet
	$(PY_RUN) ruff check src tests bench examples
	$(PY_RUN) ruff format --check src tests bench examples
	$(PY_RUN) mypy

fmt: uv
	$(PY_RUN) ruff format src tests bench examples
	$(PY_RUN) ruff check --fix src tests bench examples

bench: uv
	$(UV) sync --frozen --quiet
	$(PY_RUN) python bench/run.py
	$(PY_RUN) python bench/automation.py
	$(PY_RUN) python bench/compare.py
	$(PY_RUN) python bench/visualflow.py
