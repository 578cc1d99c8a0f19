# The two commands a newcomer needs (see README.md):
#   make demo   installs what is missing, builds, runs the server with a synthetic camera
#   make test   installs what is missing, builds, runs every test
# plus: make build, make test-asan, make fuzz, make chaos, make bench, make clean.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
MESON_OPTS ?= -Dwerror=true

.PHONY: all deps deps-test build demo test test-unit test-integration test-asan fuzz chaos bench clean

all: build

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

demo: build
	./$(BUILD)/src/cli/camvault demo

# Every test: unit + fuzz corpora (meson), integration (pytest, real ffmpeg
# and GStreamer), then all of it again under ASan+UBSan, then each fuzzer
# for a short bounded time. Prints one 'N passed, N failed' line at the end.
test: deps-test
	@scripts/test-all.sh

test-unit: deps-test $(BUILD)/build.ninja
	ninja -C $(BUILD) && meson test -C $(BUILD) --print-errorlogs

test-integration: deps-test build
	CAMVAULT_BUILD=$(BUILD) /usr/bin/python3 -m pytest -q tests/integration

test-asan: deps-test
	BUILD=$(ASAN_BUILD) scripts/test-all.sh --asan-only

fuzz: deps-test
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/test-all.sh --fuzz-only

# The cross-home isolation chaos test: CI mode by default (a few minutes);
# 'make chaos CHAOS_ARGS="--minutes 60"' for a soak (docs/chaos.md).
chaos: deps-test build
	tests/chaos/run --build $(BUILD) $(CHAOS_ARGS)

bench: build
	/usr/bin/python3 bench/run.py --build $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
