# mot_ros developer commands. `make demo` and `make test` set everything up on first use.
VENV        ?= $(CURDIR)/.venv
PY          := $(VENV)/bin/python
PROFILE     := $(CURDIR)/config/fastdds_shm.xml
# The project environment is an ament prefix: point ROS tools and Fast DDS at it.
export AMENT_PREFIX_PATH := $(VENV)$(if $(AMENT_PREFIX_PATH),:$(AMENT_PREFIX_PATH))
export FASTDDS_DEFAULT_PROFILES_FILE := $(PROFILE)
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup demo test lint format bench bench-detector bench-tracker eval-tracking soak clean

setup:
	@bash scripts/setup_env.sh

demo: setup
	$(PY) scripts/run_demo.py --output out/demo $(DEMO_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: setup lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The real-time benchmark through the ROS 2 graph (about 7 min; BENCH_ARGS=--quick: ~2 min).
bench: setup
	$(PY) scripts/bench_pipeline.py $(BENCH_ARGS)

bench-detector: setup
	$(PY) scripts/bench_detector.py $(BENCH_ARGS)

bench-tracker: setup
	$(PY) scripts/bench_tracker.py $(BENCH_ARGS)

# MOTChallenge sequence folders (det/det.txt, gt/gt.txt, seqinfo.ini) for tracking-only
# scoring against the peer trackers; not shipped (see README "Evaluating").
MOT_DATA    ?= $(or $(MOT_ROS_CACHE),$(HOME)/.cache/mot_ros)/mot15

eval-tracking: setup
	$(PY) scripts/eval_tracking.py $(EVAL_ARGS)
	@if [ -d "$(MOT_DATA)" ]; then \
	  $(PY) scripts/eval_tracking.py --mot "$(MOT_DATA)" $(EVAL_MOT_ARGS); \
	else \
	  echo "no MOTChallenge sequences in $(MOT_DATA): tracking-only comparison with the peers skipped (set MOT_DATA)"; \
	fi

# Not a test: 20,000 frames through the node, RSS and threads printed (SOAK_ARGS="--frames N").
soak: setup
	$(PY) scripts/soak.py $(SOAK_ARGS)

clean:
	rm -rf build out .pytest_cache .ruff_cache
