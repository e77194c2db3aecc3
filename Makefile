#  zgm - a thin Makefile over meson. `make run` and `make test` are all a newcomer needs.

BUILD     ?= build
MESON     ?= meson
PREFIX    ?= /usr/local
FUZZ_SECS ?= 60
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build test test-hosts soak run format format-check check-asan check-tsan fuzz bench bench-store \
        bench-compare cross-aarch64 cross-armhf test-cross install docs deb test-deb clean

all: build

deps:
	@scripts/deps.sh build faults

#  BENCH=false leaves the benchmarks out of the build (CI); make bench and bench-compare put
#  them back.
BENCH ?= true
$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD) --buildtype=debugoptimized --prefix=$(abspath $(PREFIX)) -Dbench=$(BENCH)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j $(JOBS)

#  Twice as many tests at once as there are cores: most of them wait for processes and
#  timeouts (the suite used 133 s of CPU in 348 s on two cores, two at a time). The tests that
#  measure rates and memory run alone (is_parallel: false in tests/meson.build).
TEST_JOBS ?= $(shell echo $$((2 * $(JOBS))))
test: build
	$(MESON) test -C $(BUILD) --print-errorlogs --num-processes $(TEST_JOBS)

#  zgm across six hosts (network namespaces on a bridge; root): a link down and up, loss and
#  delay, a registry <-> server partition, the registry's host gone and back, a server's host
#  renumbered, `zgm run` on every address used from another host (tests/faults/multihost.py).
#  Each fault lasts HOSTS_FAULT_SECONDS (30; CI: 5).
HOSTS_FAULT_SECONDS ?= 30
test-hosts: build
	python3 tests/faults/multihost.py --zgm $(BUILD)/src/zgm \
	    --faultapp $(BUILD)/tests/faults/faultapp --out $(BUILD)/hosts \
	    $(if $(wildcard $(BUILD)/tests/faults/netdelay),--netdelay $(BUILD)/tests/faults/netdelay) \
	    --fault-seconds $(HOSTS_FAULT_SECONDS)

#  The fault soak, SOAK_MINUTES long (30): servers and the registry SIGKILLed under load, power
#  cuts, a full disk, the descriptor limit, connections, malformed frames, slow readers. One
#  table, and $(BUILD)/soak/soak.json. Its short form runs in `make test` (soak-short).
SOAK_MINUTES ?= 30
soak: build
	python3 tests/faults/soak.py --minutes $(SOAK_MINUTES) --zgm $(BUILD)/src/zgm \
	    --faultapp $(BUILD)/tests/faults/faultapp --out $(BUILD)/soak \
	    $(if $(wildcard $(BUILD)/tests/faults/powercut_fs),--powercut-fs $(BUILD)/tests/faults/powercut_fs) \
	    $(if $(wildcard $(BUILD)/tests/faults/netdelay),--netdelay $(BUILD)/tests/faults/netdelay)

#  The store is the one `zgm server` uses by default ($$XDG_DATA_HOME/zgm/server); DATA=DIR
#  picks another. It listens on 127.0.0.1 only; BIND='tcp://*:5570' opens it to the network.
run: build
	$(BUILD)/src/zgm run $(if $(DATA),--data $(DATA)) $(if $(BIND),--bind '$(BIND)')

#  The suite under AddressSanitizer and UBSan: its waits times 8 (ZGM_TEST_SLOWDOWN), meson's
#  timeouts times 5 (test_processes takes more than its 300 s under ASan).
check-asan: deps
	[ -f build-asan/build.ninja ] || $(MESON) setup build-asan -Db_sanitize=address,undefined \
	    -Db_lundef=false --buildtype=debug
	ninja -C build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    ZGM_TEST_SLOWDOWN=8 $(MESON) test -C build-asan --print-errorlogs --num-processes $(JOBS) \
	    --timeout-multiplier 5

#  The suite under ThreadSanitizer, against a TSan libzmq built once from Debian's source package
#  into build-tsan/libzmq (Debian's own libzmq is not instrumented: ~600 false reports).
#  TSAN_TESTS="test_user ..." builds and runs only those (CI runs the in-process ones).
check-tsan: deps
	@scripts/deps.sh tsan
	JOBS=$(JOBS) scripts/check-tsan.sh build-tsan $(TSAN_TESTS)

fuzz: deps
	@scripts/deps.sh fuzz
	[ -f build-fuzz/build.ninja ] || CC=clang-14 CXX=clang++-14 $(MESON) setup build-fuzz \
	    -Dfuzz=true -Dtests=false -Dcli=false --buildtype=debugoptimized
	ninja -C build-fuzz tests/fuzz/fuzz_proto
	mkdir -p build-fuzz/corpus build-fuzz/artifacts
	build-fuzz/tests/fuzz/fuzz_proto -max_total_time=$(FUZZ_SECS) -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix=build-fuzz/artifacts/ build-fuzz/corpus tests/corpus

bench-store: build
	$(MESON) configure $(BUILD) -Dbench=true && ninja -C $(BUILD) -j $(JOBS)
	$(BUILD)/bench/bench_store

#  zgm's own figures (BENCHMARKS.md); BENCH_ARGS e.g. --json, --inproc, --only fanout, --quick.
bench: build
	$(MESON) configure $(BUILD) -Dbench=true && ninja -C $(BUILD) -j $(JOBS)
	$(BUILD)/bench/zgm-bench $(BENCH_ARGS)

#  The same workloads through Mosquitto, NATS and Redis (installed from Debian when missing),
#  and the libzmq and SQLite limits of this machine: one table with zgm's ratio to each, then
#  each target round by round; BENCH_ARGS: --quick, --rounds N (3 by default).
bench-compare:
	bench/run-compare.sh $(BUILD) $(BENCH_ARGS)

#  Everything under PREFIX (/usr/local unless given; a build made for another prefix is
#  reconfigured), inside DESTDIR when it is set, as packagers do: make install DESTDIR=/tmp/root
install: build
	@prefix=$$($(MESON) introspect --buildoptions $(BUILD) | python3 -c 'import json, sys; \
	    print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))'); \
	if [ "$$prefix" != "$(abspath $(PREFIX))" ]; then \
	    echo "$(MESON) configure $(BUILD) -Dprefix=$(abspath $(PREFIX))"; \
	    $(MESON) configure $(BUILD) -Dprefix=$(abspath $(PREFIX)) || exit 1; \
	fi
	$(MESON) install -C $(BUILD) $(if $(DESTDIR),--destdir $(abspath $(DESTDIR)))

#  docs/cli.md from src/cli/commands.toml (the test cli-docs-current fails while it is stale).
docs:
	python3 src/cli/gen_cli.py src/cli/commands.toml --markdown docs/cli.md

#  Debian packages zgm, libzgm0 and libzgm-dev for amd64, arm64 and armhf, and python3-zgm,
#  into build-deb/ (docs/packaging.md); the ARM ones cross-built in the build directories
#  test-cross builds and tests (after it, nothing is compiled again).
deb:
	@scripts/deps.sh build cross deb
	JOBS=$(JOBS) packaging/deb/build.sh

#  lintian; each architecture's packages installed into a fresh Debian root, the units'
#  commands run there as user zgm, a session, a program built with libzgm-dev, purge.
#  The packages are built while the base root is made (test.sh --build).
test-deb:
	@scripts/deps.sh build cross deb
	JOBS=$(JOBS) packaging/deb/test.sh --build

format:
	@scripts/deps.sh format
	clang-format -i $$(git ls-files '*.c' '*.cc' '*.h')

#  Fails naming every tracked C/C++ file that `make format` would change.
format-check:
	@scripts/deps.sh format
	@scripts/format-check.sh

#  The ARM sysroots (build-aarch64/, build-armhf/: a Debian root of about 225 MB each, docs/cross.md)
#  stay: remove them by hand to have them made again.
clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz build-deb

#  Cross builds for Raspberry-Pi-class boards, tested under qemu-user (docs/cross.md): the ARM
#  packages' own build directories (packaging/deb/build.sh --configure: Debian's flags, the
#  tests configured), so the tests run the objects the packages ship and `make deb` compiles
#  nothing again. cross/sysroot.sh makes build-ARCH/sysroot (a Debian sysroot, once) and
#  build-ARCH/sysroot.ini (the meson constant `sysroot`), layered before cross/ARCH.ini.
CROSS_TIMEOUT_MULT ?= 1
CROSS_DEB_aarch64  := arm64
CROSS_DEB_armhf    := armhf
cross_dir = build-deb/$(CROSS_DEB_$(1))/build

#  Says how long configuring and compiling took (CI's test-cross step is both and the tests).
define cross_build
	@scripts/deps.sh build cross
	@started=$$(date +%s); \
	    packaging/deb/build.sh --configure $(CROSS_DEB_$(1)) && \
	    ninja -C $(call cross_dir,$(1)) -j $(JOBS) && \
	    echo "cross: $(1) configured and built in $$(($$(date +%s) - started)) s"
endef

cross-aarch64:
	$(call cross_build,aarch64)

cross-armhf:
	$(call cross_build,armhf)

#  Built one after the other (not as prerequisites: make -j must not run two apt-gets), then
#  the tests of both under qemu at the same time (cross/test.sh).
test-cross:
	$(call cross_build,aarch64)
	$(call cross_build,armhf)
	JOBS=$(JOBS) CROSS_TIMEOUT_MULT=$(CROSS_TIMEOUT_MULT) cross/test.sh \
	    $(call cross_dir,aarch64) $(call cross_dir,armhf)

.PHONY: size
#  Code size (text/data/bss) of the shared library per architecture, as the packages build it
#  (Debian's flags): `size`, not file size (aarch64 files are padded to 64 KiB pages).
size:
	@scripts/deps.sh build cross
	packaging/deb/build.sh --configure amd64 arm64 armhf
	for arch in amd64 arm64 armhf; do $(MESON) compile -C build-deb/$$arch/build -j $(JOBS) zgm:shared_library || exit 1; done
	@printf '%-8s %s\n' arch "$$(size build-deb/amd64/build/src/libzgm.so | head -n 1)"
	@printf '%-8s %s\n' amd64 "$$(size build-deb/amd64/build/src/libzgm.so | tail -n 1)"
	@printf '%-8s %s\n' arm64 "$$(aarch64-linux-gnu-size build-deb/arm64/build/src/libzgm.so | tail -n 1)"
	@printf '%-8s %s\n' armhf "$$(arm-linux-gnueabihf-size build-deb/armhf/build/src/libzgm.so | tail -n 1)"
