# The two commands of the quick start: `make demo` and `make test`. Both set up what is missing.
.PHONY: setup demo test lint typecheck stack-up stack-down

VENV := .venv/bin

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/chimera demo

lint: setup
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/lint-imports

typecheck: setup
	$(VENV)/mypy

# pytest brings the local stack up when it is not running and stops it again afterwards.
# Coverage (settings in pyproject.toml, [tool.coverage.*]): a summary of the files not fully
# covered, reports/coverage.xml and reports/htmlcov/, and a floor the run must reach.
test: setup lint typecheck
	$(VENV)/pytest --cov --cov-report=term-missing:skip-covered --cov-report=xml \
		--cov-report=html

stack-up: setup
	$(VENV)/chimera stack up

stack-down:
	$(VENV)/chimera stack down
