#  zgm - a thin Makefile over meson. `make run` and `make test` are all a newcomer needs.

BUILD     ?= build
MESON     ?= meson
DATA      ?= $(HOME)/.local/share/zgm
FUZZ_SECS ?= 60
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build test run check-asan fuzz bench bench-store bench-compare \
        cross-aarch64 cross-armhf test-cross install format clean

all: build

deps:
	@scripts/deps.sh build

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD) --buildtype=debugoptimized

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j $(JOBS)

test: build
	$(MESON) test -C $(BUILD) --print-errorlogs --num-processes $(JOBS)

run: build
	$(BUILD)/src/zgm run --data $(DATA)

check-asan: deps
	[ -f build-asan/build.ninja ] || $(MESON) setup build-asan -Db_sanitize=address,undefined \
	    -Db_lundef=false --buildtype=debug
	ninja -C build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    $(MESON) test -C build-asan --print-errorlogs --num-processes $(JOBS)

fuzz: deps
	@scripts/deps.sh fuzz
	[ -f build-fuzz/build.ninja ] || CC=clang-14 CXX=clang++-14 $(MESON) setup build-fuzz \
	    -Dfuzz=true -Dtests=false -Dcli=false --buildtype=debugoptimized
	ninja -C build-fuzz tests/fuzz_proto
	mkdir -p build-fuzz/corpus
	build-fuzz/tests/fuzz_proto -max_total_time=$(FUZZ_SECS) -timeout=10 -rss_limit_mb=2048 \
	    build-fuzz/corpus tests/corpus

bench-store: build
	$(BUILD)/bench/bench_store

install: build
	$(MESON) install -C $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.cc' '*.h')

clean:
	rm -rf $(BUILD) build-asan build-fuzz build-aarch64 build-armhf
