# The two commands a fresh clone needs: `make demo` and `make test`. Each sets itself up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB := out/demo.db
DEMO_ENV := LINZHANG_DATABASE_URL=sqlite:///$(DEMO_DB) LINZHANG_BOT_USERNAME=LinzhangDemoBot

.PHONY: setup demo test check

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# The main job without a token or network: the local Bot API server, the real runtime on SQLite,
# a scripted walk-through printed as a transcript; then the contact cards of the same estate.
demo: setup
	mkdir -p out
	$(BIN)/linzhang demo --db $(DEMO_DB)
	$(DEMO_ENV) $(BIN)/linzhang cards --estate 芙蓉花园 --out out/cards-芙蓉花园.pdf
	$(DEMO_ENV) $(BIN)/linzhang cards --estate 芙蓉花园 --format json --out out/cards-芙蓉花园.json

check: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: check
	$(BIN)/pytest
