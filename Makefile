# modelbay developer targets. PYTHON can be overridden: make test PYTHON=python3.11
PYTHON ?= python
PYTEST_ARGS ?= -n 2 -q

.PHONY: check lint typecheck imports test install-test

# The gate .ci/run runs: lint, types, the import contract (pyproject.toml), then the tests.
check: lint typecheck imports test

lint:
	$(PYTHON) -m ruff check src tests bench

typecheck:
	$(PYTHON) -m mypy src

# lint-imports, run by $(PYTHON) (import-linter has no `python -m`).
imports:
	$(PYTHON) -c 'from importlinter.cli import lint_imports_command as run; run()'

test:
	$(PYTHON) -m pytest $(PYTEST_ARGS)

install-test:
	$(PYTHON) -m pip install -e '.[dev]'
