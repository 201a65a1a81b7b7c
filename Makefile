# Front door of the monorepo. `make help` lists the targets.
# Every target bootstraps uv (from PyPI, into .tools/) when it is not on PATH.

SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(abspath .)

UV_VERSION := 0.13.8
UV := $(or $(shell command -v uv 2>/dev/null),$(ROOT)/.tools/bin/uv)
# uv may use the machine's Python 3.11; set UV_PYTHON_DOWNLOADS=automatic to let it fetch one.
export UV_PYTHON_DOWNLOADS ?= never
# Trust the system's certificate store too (needed behind TLS-inspecting proxies).
export UV_SYSTEM_CERTS ?= true

PROJECTS := contract backend frontend notebook-pytorch notebook-tf
# Empty = the official archive URL (see data/prepare.py); a local zip or folder also works.
DATA_SOURCE ?=
# Dependencies of data/prepare.py's tests (the script itself declares its own, PEP 723).
DATA_TEST_DEPS := --with pytest --with "pillow>=11" --with "tqdm>=4.66" --with-editable ./contract

.PHONY: help uv setup data test test-data test-parity $(addprefix test-,$(PROJECTS)) test-deploy test-stack test-scale lint lint-deploy \
        format tensorboard demo images serve-api serve-ui train-pytorch train-tf train-text listing leaderboard notebook promote robustness calibrate confusion-cells \
        bench bench-serving bench-pytorch bench-scan bench-tf mambavision-golden clean

help: ## list the targets and the variables they read
	@awk -v projects="$(PROJECTS)" ' \
	  /^[$$a-zA-Z_(), -]+:.*## / { \
	    name = $$0; sub(/:.*/, "", name); text = $$0; sub(/^[^#]*## /, "", text); \
	    if (name ~ /addprefix test-/) { \
	      n = split(projects, p, " "); \
	      for (i = 1; i <= n; i++) printf "  %-22s %s\n", "test-" p[i], "test " p[i] "/ alone"; \
	    } else printf "  %-22s %s\n", name, text; \
	  }' $(MAKEFILE_LIST)
	@echo
	@echo "Variables (make TARGET VAR=value; current value shown):"
	@echo "  API_PORT=$(API_PORT)          make demo's API port (also docker compose's host port)"
	@echo "  UI_PORT=$(UI_PORT)           make demo's UI port (also docker compose's host port)"
	@echo "  HOST=$(HOST)         where make demo listens; HOST=0.0.0.0 for every interface"
	@echo "  PORT, API_URL          make serve-api / serve-ui (8000 / 7860; http://localhost:8000)"
	@echo "  DATA_SOURCE            make data: a URL, zip or folder instead of the official archive"
	@echo "  ARCH, TRAINING_MODE, EPOCHS, PRETRAINED, ARGS   make train-pytorch (TF_MODEL, WEIGHTS: train-tf)"
	@echo "  RUN_ID, MAX_LATENCY_MS, MAX_ROBUSTNESS_DROP, REASON, WRITE_CARD   promote, robustness, calibrate"
	@echo "  TEXT_ARCH, TEXT_ARGS   make train-text (tfidf-char|tfidf-word|tfidf-word-char; flipkart-torch train-text options)"
	@echo "  TEXT_RUN, RUN_ID       make listing: the text model (newest) and image export (production) to fuse"
	@echo "  IMAGES, PYTHON_BASE    make images: which (backend frontend tensorboard postgres prometheus proxy; default all);"
	@echo "                         PYTHON_BASE=python-base for the official base (default: a local debootstrap one)"
	@echo "  STACK_REQUIRED=1       make test-stack / test-scale fail instead of skipping without Docker or images"

$(ROOT)/.tools/bin/uv:
	@echo "uv not found: installing uv $(UV_VERSION) from PyPI into .tools/"
	python3 -m venv $(ROOT)/.tools
	$(ROOT)/.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

uv: $(UV) ## install uv if it is missing

setup: uv ## create every project's environment from its lock file
	@for p in $(PROJECTS); do echo "== $$p"; (cd $$p && $(UV) sync --locked) || exit 1; done

data: uv ## prepare data/ and frontend/assets/ (DATA_SOURCE=url|zip|folder overrides the source)
	$(UV) run --locked --script data/prepare.py $(if $(DATA_SOURCE),--source "$(DATA_SOURCE)")

# pytest exits 5 when a project has no tests yet: that is not a failure.
# uv sync is not --quiet: a first sync downloads for minutes, and uv shows its progress.
define run_pytest
	cd $(1) && { [ -d .venv ] || echo "$(1): creating its environment from uv.lock (first time: downloads)"; } && \
	$(UV) sync --locked && $(UV) run --locked pytest -q -p no:cacheprovider; \
	rc=$$?; if [ $$rc -eq 5 ]; then echo "$(1): no tests yet"; rc=0; fi; exit $$rc
endef

$(addprefix test-,$(PROJECTS)): test-%: uv ## test one project
	@$(call run_pytest,$*)

test-data: uv ## test data/prepare.py
	$(UV) run --no-project $(DATA_TEST_DEPS) pytest -q -p no:cacheprovider data/tests

test-parity: uv ## train/serve parity: both labs' and the backend's live preprocessing on the same files
	UV=$(UV) $(UV) run --project contract --locked pytest -q -p no:cacheprovider tests/parity

test-deploy: uv ## test the Dockerfiles' commands, the compose/monitoring wiring and the deploy scripts
	UV=$(UV) $(UV) run --no-project --with "pytest>=8.3" --with "pyyaml>=6" pytest -q -p no:cacheprovider deploy/tests

test: uv ## run every project's tests; fails if any fails (all are run)
	@failed=""; \
	for t in test-data $(addprefix test-,$(PROJECTS)) test-parity test-deploy; do \
	  echo "===== $$t"; $(MAKE) --no-print-directory $$t || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi; echo "all tests passed"

lint: uv lint-deploy ## ruff check + format check on every project and data/; workflow/Docker linters
	@for p in $(PROJECTS); do echo "== $$p"; \
	  (cd $$p && $(UV) sync --locked && \
	   $(UV) run --locked --quiet ruff check . && $(UV) run --locked --quiet ruff format --check .) || exit 1; \
	done
	@echo "== data, bench, tests"; $(UV) run --project backend --locked --quiet ruff check data bench tests && \
	  $(UV) run --project backend --locked --quiet ruff format --check data bench tests

lint-deploy: uv ## ruff on deploy/, then actionlint, hadolint, shellcheck, compose schema (deploy/lint.sh)
	$(UV) sync --project backend --locked
	$(UV) run --project backend --locked --quiet ruff check deploy && \
	  $(UV) run --project backend --locked --quiet ruff format --check deploy
	UV=$(UV) bash deploy/lint.sh

format: uv ## apply ruff fixes and formatting everywhere
	@for p in $(PROJECTS); do (cd $$p && $(UV) run --locked --quiet ruff check --fix . ; $(UV) run --locked --quiet ruff format .); done
	$(UV) run --project backend --locked --quiet ruff format data bench tests

tensorboard: uv ## browse every run of both labs (http://localhost:6006)
	cd notebook-pytorch && $(UV) run --locked tensorboard --logdir=$(ROOT)/runs

# Targets that later work fills. They say what is missing instead of failing silently.
define not_yet
	@echo "make $@: not available yet — $(1)" >&2; exit 2
endef

API_PORT ?= 8000
UI_PORT ?= 7860
# Where make demo listens: loopback unless asked (HOST=0.0.0.0 for every interface).
HOST ?= 127.0.0.1

demo: uv ## backend + frontend on the production model (API_PORT=, UI_PORT=, HOST=; Ctrl-C stops both)
	@test -f artifacts/registry.json || { echo "make demo: no artifacts/registry.json — export a model, then make promote" >&2; exit 2; }
	@cd backend && $(UV) sync --locked && cd ../frontend && $(UV) sync --locked
	@UV=$(UV) API_PORT=$(API_PORT) UI_PORT=$(UI_PORT) HOST=$(HOST) exec bash deploy/demo.sh

# Not part of make test: it needs Docker (installed and started when missing, as root) and
# builds for minutes. PYTHON_BASE=python-base (the official base) where a registry is reachable.
images: uv ## build and check every image (API, UI, TensorBoard, PostgreSQL, Prometheus) -> deploy/results/images.json
	UV=$(UV) bash deploy/images.sh $(IMAGES)

# After make images. Skips (with the reason) without Docker; STACK_REQUIRED=1 makes that fail.
test-stack: uv ## docker-compose.yml end to end in Docker: API, UI in Chromium, TensorBoard, Prometheus, PostgreSQL
	cd frontend && $(UV) sync --locked
	UV=$(UV) $(UV) run --project frontend --locked pytest -q -s -p no:cacheprovider --rootdir deploy/stack deploy/stack/test_stack.py

# After make images (backend, postgres, proxy). Writes deploy/results/scale.json.
test-scale: uv ## the compose profile scale in Docker: 2 API replicas behind nginx, load test, rolling restart
	cd frontend && $(UV) sync --locked
	UV=$(UV) $(UV) run --project frontend --locked pytest -q -s -p no:cacheprovider --rootdir deploy/stack deploy/stack/test_scale.py

serve-api: uv ## the backend alone, on PORT (default 8000)
	cd backend && $(UV) run --locked flipkart-api serve

serve-ui: uv ## the frontend alone, on PORT (default 7860), talking to API_URL
	cd frontend && $(UV) run --locked flipkart-ui

# e.g. make train-pytorch ARCH=efficientnet_lite0 PRETRAINED=1 EPOCHS=15 ARGS="--augment catalogue"
# (MODEL= and MODE= are the old names of ARCH= and TRAINING_MODE=, still read)
ARCH ?= $(or $(MODEL),efficientnet_lite0)
train-pytorch: uv ## train one PyTorch model (ARCH=, TRAINING_MODE=freeze|finetune, EPOCHS=, PRETRAINED=1, ARGS=)
	cd notebook-pytorch && $(UV) run --locked flipkart-torch train --architecture $(ARCH) \
	  --training-mode $(or $(TRAINING_MODE),$(MODE),finetune) --epochs $(or $(EPOCHS),10) \
	  $(if $(PRETRAINED),--pretrained) $(ARGS)

# Keras' ImageNet weights cannot be downloaded everywhere: WEIGHTS=imagenet|PATH|none (default none).
train-tf: uv ## train + export the Keras EfficientNetB0 baseline (TF_MODEL=, TRAINING_MODE=, WEIGHTS=, EPOCHS=)
	cd notebook-tf && $(UV) sync --locked && $(UV) run --locked flipkart-tf train \
	  --architecture $(or $(TF_MODEL),efficientnet_b0) --training-mode $(or $(TRAINING_MODE),$(MODE),finetune) \
	  --weights $(or $(WEIGHTS),none) --epochs $(or $(EPOCHS),14) --image-size $(or $(IMAGE_SIZE),128) \
	  $(if $(filter none,$(or $(WEIGHTS),none)),--bn-momentum 0.9) --max-minutes $(or $(MAX_MINUTES),0) --export

# The production text model: char n-grams (terms in >= 3 documents), refitted on train+val.
train-text: uv ## fit a text model of the listings' title/description (TEXT_ARCH=, TEXT_ARGS=)
	cd notebook-pytorch && $(UV) run --locked flipkart-torch train-text \
	  --architecture $(or $(TEXT_ARCH),tfidf-char) $(or $(TEXT_ARGS),--min-df 3 --fit-on train+val)

# Run again after make promote: a listing fuses one image export (the service says so otherwise).
listing: uv ## fuse an image export and a text model (weights fitted on val) and register it (TEXT_RUN=, RUN_ID=)
	cd notebook-pytorch && $(UV) run --locked flipkart-torch fit-listing --register \
	  $(if $(RUN_ID),--image "$(RUN_ID)") $(if $(TEXT_RUN),--text "$(TEXT_RUN)")

leaderboard: uv ## re-measure every export here; REWRITES README.md's table and artifacts/leaderboard.*
	cd backend && $(UV) run --locked python -m flipkart_api.tools.leaderboard
	@echo "make leaderboard: README.md and artifacts/leaderboard.* now hold this machine's latencies;"
	@echo "  commit them, or undo with: git checkout -- README.md artifacts/leaderboard.csv artifacts/leaderboard.md"

notebook: uv ## re-execute merged_notebook.ipynb in place (after make leaderboard / make promote)
	cd notebook-pytorch && $(UV) run --locked papermill ../merged_notebook.ipynb ../merged_notebook.ipynb \
	  --cwd .. --log-level WARNING

# RUN_ID= picks an export other than production.
calibrate: uv ## fit a temperature on val, fold it into an export's graph, derive its uncertain threshold
	cd backend && $(UV) run --locked python -m flipkart_api.tools.calibrate \
	  --splits ../data/splits.csv --images ../data/images $(if $(RUN_ID),--run-id "$(RUN_ID)")

# RUN_ID= picks an export other than production. Writes models/<run_id>/test_predictions.json and
# artifacts/thumbnails/ (committed: the Models tab's confusion-matrix cells, served by the API).
confusion-cells: uv ## which test images fell in each confusion-matrix cell of an export (+ thumbnails)
	cd backend && $(UV) run --locked python -m flipkart_api.tools.test_cells \
	  --splits ../data/splits.csv --images ../data/images $(if $(RUN_ID),--run-id "$(RUN_ID)")

# RUN_ID= picks an export other than production; WRITE_CARD=1 stores the figures in its card.
robustness: uv ## accuracy of an exported model under realistic upload conditions (test split)
	cd backend && $(UV) run --locked python -m flipkart_api.tools.robustness \
	  --splits ../data/splits.csv --images ../data/images --split test \
	  $(if $(RUN_ID),--run-id "$(RUN_ID)") $(if $(WRITE_CARD),--write-card) $(if $(MAX_DROP),--max-drop $(MAX_DROP))

# RUN_ID= promotes one model explicitly; MAX_LATENCY_MS= keeps only models that fast.
promote: uv ## choose the production model and write artifacts/registry.json
	cd backend && $(UV) run --locked python -m flipkart_api.tools.promotion \
	  $(if $(RUN_ID),--run-id "$(RUN_ID)") $(if $(MAX_LATENCY_MS),--max-latency-ms $(MAX_LATENCY_MS)) \
	  $(if $(MAX_ROBUSTNESS_DROP),--max-robustness-drop $(MAX_ROBUSTNESS_DROP)) \
	  $(if $(REASON),--reason "$(REASON)")

bench: bench-serving bench-pytorch bench-tf ## every benchmark; results in bench/results/*.json (~15 min)

bench-serving: uv ## the API under load vs a naive baseline -> bench/results/serving.json, serving_memory.json, serving_text.json, serving_explain.json
	$(UV) run --project notebook-pytorch --locked python bench/serving/make_model.py
	UV=$(UV) $(UV) run --project backend --locked python bench/serving/run.py
	$(UV) run --project backend --locked python bench/serving/memory.py
	$(UV) run --project backend --locked python bench/serving/text.py
	$(UV) run --project backend --locked python bench/serving/explain.py

bench-pytorch: uv ## PyTorch lab: training images/s, eager vs ONNX Runtime, selective scan -> bench/results/pytorch.json
	cd notebook-pytorch && $(UV) run --locked flipkart-torch bench

bench-scan: uv ## MambaVision selective scan alone, chunked vs sequential -> bench/results/pytorch_scan.json
	cd notebook-pytorch && $(UV) run --locked python -m flipkart_torch.bench_scan

bench-tf: uv ## the TensorFlow input pipeline and inference -> bench/results/tensorflow.json
	cd notebook-tf && $(UV) sync --locked && $(UV) run --locked flipkart-tf bench --image-size 128

# Dev only, needs PyPI: NVIDIA's code runs from a temporary folder and is never copied here.
mambavision-golden: uv ## rewrite notebook-pytorch/tests/fixtures/mambavision_golden.safetensors from NVIDIA's wheel (non-commercial)
	cd notebook-pytorch && $(UV) run --locked --with einops==0.8.1 --with pip python tools/make_mambavision_golden.py

clean: ## remove caches (keeps environments, data and runs)
	find . -name __pycache__ -type d -prune -exec rm -rf {} + ; rm -rf .ruff_cache
