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

# Until the chat runtime lands: import the sample roster into SQLite, appoint a head, write cards.
demo: setup
	mkdir -p out && rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(DEMO_ENV) $(BIN)/linzhang db upgrade
	$(DEMO_ENV) $(BIN)/linzhang import-roster examples/roster.csv --new-estates
	$(DEMO_ENV) $(BIN)/linzhang roles grant secretary --user 900001 --name 周书记 --scope estate:芙蓉花园
	$(DEMO_ENV) $(BIN)/linzhang roles grant neighbour_head --user 900002 --name 李阿姨 --scope group:芙蓉花园/1栋/1单元
	$(DEMO_ENV) $(BIN)/linzhang roles list
	$(DEMO_ENV) $(BIN)/linzhang cards --estate 芙蓉花园 --out out/cards-芙蓉花园.pdf
	$(DEMO_ENV) $(BIN)/linzhang cards --estate 芙蓉花园 --format json --out out/cards-芙蓉花园.json
	@echo "→ out/cards-芙蓉花园.pdf, out/cards-芙蓉花园.json"

check: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: check
	$(BIN)/pytest
