# The README's two commands: `make run` and `make test`. Both set the machine up first.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: run test build deps bench bench-hub bench-nodes bench-scale bench-instructions fuzz fuzz-build fuzz-smoke test-asan test-tsan clean format

deps:
	scripts/install-deps

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/bin/wirehub --listen 127.0.0.1:8080

test: build fuzz-build
	cd $(BUILD) && ctest --output-on-failure --timeout 600 -j $(JOBS)
	$(MAKE) --no-print-directory fuzz-smoke

# The whole suite under sanitizers (separate build trees, see CMakePresets.json).
test-asan: deps
	cmake --preset asan-ubsan && cmake --build --preset asan-ubsan -j $(JOBS)
	ctest --preset asan-ubsan -j $(JOBS)

test-tsan: deps
	cmake --preset tsan && cmake --build --preset tsan -j $(JOBS)
	ctest --preset tsan -j $(JOBS)

bench:
	scripts/install-deps --bench
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release && cmake --build $(BUILD) -j $(JOBS)
	scripts/bench

# Hub echo and group broadcast against the raw WebSocket path, as ratios, on one server
# build (scripts/bench-hub; the figures go into docs/BENCHMARKS.md by hand).
bench-hub:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release && cmake --build $(BUILD) -j $(JOBS) --target hub_bench_server wirehub-bench
	BUILD=$(BUILD) scripts/bench-hub

# Idle connections one server process holds (keep-alive pings running), memory per
# connection projected to 1,000,000, and running out of descriptors: docs/BENCHMARKS-SCALE.md.
# One broadcast fanned out by 1, 2 and 3 nodes over one Redis, against a lone node
# (scripts/bench-nodes; the figures go into docs/BENCHMARKS.md by hand).
bench-nodes:
	scripts/install-deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release && cmake --build $(BUILD) -j $(JOBS) --target wirehub wirehub-bench
	BUILD=$(BUILD) scripts/bench-nodes

bench-scale:
	scripts/install-deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release && cmake --build $(BUILD) -j $(JOBS)
	BUILD=$(BUILD) scripts/bench-scale

# The server's user-space instructions per message under callgrind, four workloads, into
# docs/bench/instructions.md (scripts/count-instructions). COMMIT=<sha> measures that commit,
# built in a worktree under /work/scratch; otherwise the work tree, built in build-instr.
bench-instructions:
	scripts/install-deps --instructions
	BUILD=$(if $(filter build,$(BUILD)),build-instr,$(BUILD)) scripts/count-instructions $(if $(COMMIT),--commit $(COMMIT))

FUZZ_TARGETS = fuzz_http_parser fuzz_ws_protocol fuzz_ws_extensions fuzz_utf8 fuzz_jwt fuzz_orderflow_json fuzz_hub_framing fuzz_hub_messages

# The fuzz targets (clang, libFuzzer with ASan and UBSan: the fuzz preset, in build/fuzz).
fuzz-build: deps
	cmake --preset fuzz && cmake --build --preset fuzz -j $(JOBS) --target $(FUZZ_TARGETS)

# Part of make test: each target for FUZZ_SMOKE_RUNS inputs from a fixed seed, starting
# from its seed corpus (new inputs go to a fresh build/fuzz/smoke, never into fuzz/corpus):
# the same inputs every time, a few seconds each.
FUZZ_SMOKE_RUNS ?= 100000
fuzz-smoke:
	mkdir -p build/fuzz/findings
	for t in $(FUZZ_TARGETS); do \
	  rm -rf build/fuzz/smoke/$$t && mkdir -p build/fuzz/smoke/$$t && \
	  build/fuzz/bin/$$t -seed=1 -runs=$(FUZZ_SMOKE_RUNS) -artifact_prefix=build/fuzz/findings/ \
	    build/fuzz/smoke/$$t fuzz/corpus/$$t 2>build/fuzz/smoke/$$t.log || \
	    { tail -30 build/fuzz/smoke/$$t.log; echo "fuzz-smoke: $$t failed (log: build/fuzz/smoke/$$t.log)"; exit 1; }; \
	  echo "fuzz-smoke: $$t: $$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' build/fuzz/smoke/$$t.log)"; \
	done

# Each fuzz target for FUZZ_SECONDS (default 60) from its seed corpus; findings in build/fuzz/findings.
FUZZ_SECONDS ?= 60
fuzz: fuzz-build
	mkdir -p build/fuzz/findings
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t && \
	  build/fuzz/bin/$$t -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=build/fuzz/findings/ \
	    build/fuzz/corpus/$$t fuzz/corpus/$$t || exit 1; \
	done

clean:
	rm -rf $(BUILD) build-*

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')
