# modelbay developer targets. PYTHON can be overridden: make test PYTHON=python3.11
PYTHON ?= python
PYTEST_ARGS ?= -n 2 -q

.PHONY: check lint typecheck test install-test

check: lint typecheck test

lint:
	$(PYTHON) -m ruff check src tests bench

typecheck:
	$(PYTHON) -m mypy src

test:
	$(PYTHON) -m pytest $(PYTEST_ARGS)

install-test:
	$(PYTHON) -m pip install -e '.[dev]'
