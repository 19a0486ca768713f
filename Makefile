# seq2seq-tfx. `make run`: install from the lock and run the pipeline on the embedded
# sample. `make test`: the test suite (slow end-to-end tests: `make test-slow`).
# `make lint`: ruff (lint, import order, format check); `make format` rewrites.
SHELL := /bin/bash
UV_VERSION := 0.9.30
VENV := .venv
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export TF_CPP_MIN_LOG_LEVEL ?= 1
export UV_PYTHON_DOWNLOADS := never

.PHONY: install run test test-slow test-kfp test-image image image-clean lint format mutate clean

install: $(VENV)/.installed

$(UV):
	@echo "installing uv $(UV_VERSION) into $(TOOLS)"
	@python3 -m venv $(TOOLS)
	@$(TOOLS)/bin/pip install --quiet --quiet --disable-pip-version-check uv==$(UV_VERSION)  # -qq: errors only

# Bytecode is compiled at install: `import tfx` takes ~7 s with .pyc files, ~22 s without.
# One line on the console; uv's full listing in $(TOOLS)/install.log (shown in full on a failure).
$(VENV)/.installed: $(UV) uv.lock pyproject.toml
	@echo "installing the locked dependencies into $(VENV) (listing: $(TOOLS)/install.log) ..."
	@$(UV) sync --frozen --compile-bytecode --python "$$(scripts/find-python310.sh $(UV))" > $(TOOLS)/install.log 2>&1 \
		|| { cat $(TOOLS)/install.log; exit 1; }
	@echo "installed: $$(grep -Ec '^ [+~] ' $(TOOLS)/install.log) packages added or changed, $$(ls -d $(VENV)/lib/python3.10/site-packages/*.dist-info | wc -l) in $(VENV)"
	@touch $@

run: install
	@$(VENV)/bin/s2s run $(ARGS)

test: install
	$(VENV)/bin/pytest $(ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test-slow: install
	$(VENV)/bin/pytest -m slow $(ARGS)

# Only the compiled Kubeflow package, every task run in the pipeline image as the open-source KFP
# backend runs it (tests/kfp_harness.py; part of `make test-image`; skipped without the image).
test-kfp: install
	$(VENV)/bin/pytest -m kfp $(ARGS)

# The pipeline image (docker/Dockerfile): docker where an engine answers, else podman (installed from
# Debian's packages when missing; settings in docker/podman/; images in /var/lib/containers/storage).
# Without a registry it first builds a local stand-in for the base image (scripts/base-image.sh).
image:
	scripts/image.sh

# The tests that run the pipeline image: `s2s run` in it, and the Kubeflow harness (about 5 min;
# skipped, saying why, without an engine or an up-to-date image; .ci/run runs them after make image).
test-image: install
	$(VENV)/bin/pytest -m "image or kfp" $(ARGS)

# Removes the project's images (and the stand-in base) from the engine's storage.
image-clean:
	scripts/image.sh --clean

# Mutation testing (mutmut, settings in pyproject.toml [tool.mutmut]): every mutant of the
# load-bearing modules run against the tests that cover the function it changes (about 11 min
# here); then the score per module and the survivors (`.venv/bin/mutmut show NAME`: the diff).
mutate: install
	rm -rf mutants
	$(VENV)/bin/mutmut run > mutants.log 2>&1 || (tail -20 mutants.log; exit 1)
	$(VENV)/bin/python scripts/mutation_report.py --mutmut $(VENV)/bin/mutmut

clean:
	rm -rf artifacts .pytest_cache mutants mutants.log
