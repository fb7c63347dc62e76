# vmsend: the targets a newcomer uses.  Everything builds with CMake under build/.
#   make run      install deps, build release, serve the demo site on http://127.0.0.1:8080/
#   make test     install deps, build debug (INVARIANTS + ASan/UBSan), run the whole ctest suite
#   make debug | release | tsan | format | clean | bench | fuzz | stress | incident | soak
#   make test-repeat N   the stress, fault and http tests N times, a new seed each time
#   make install [PREFIX=/usr/local] [DESTDIR=...]   libvmsend, its header, vmsend.pc, vmsend
#   make deb      Debian package, lintian, install test

JOBS     ?= $(shell nproc)
CMAKE    ?= cmake
DEBUG    := build/debug
RELEASE  := build/release
TSAN     := build/tsan
FUZZBLD  := build/fuzz
FUZZ_SECONDS   ?= 60
STRESS_SECONDS ?= 60
PORT     ?= 8080
PREFIX   ?= /usr/local

.PHONY: all deps debug release tsan test test-tsan test-repeat run format format-check clean bench \
	bench-quick fuzz stress incident soak install deb

# `make test-repeat 5` (or N=5): the word after test-repeat is the count, not a target.
ifeq (test-repeat,$(firstword $(MAKECMDGOALS)))
  N := $(or $(word 2,$(MAKECMDGOALS)),$(N),5)
  $(eval $(word 2,$(MAKECMDGOALS)):;@:)
endif

all: debug

deps:
	@scripts/deps.sh

$(DEBUG)/CMakeCache.txt:
	$(CMAKE) -S . -B $(DEBUG) -DCMAKE_BUILD_TYPE=Debug -DVMSEND_INVARIANTS=ON -DVMSEND_SANITIZE=address,undefined

$(RELEASE)/CMakeCache.txt:
	$(CMAKE) -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release -DVMSEND_INVARIANTS=OFF

$(TSAN)/CMakeCache.txt:
	$(CMAKE) -S . -B $(TSAN) -DCMAKE_BUILD_TYPE=Debug -DVMSEND_INVARIANTS=ON -DVMSEND_SANITIZE=thread

debug: deps $(DEBUG)/CMakeCache.txt
	$(CMAKE) --build $(DEBUG) -j $(JOBS)

release: deps $(RELEASE)/CMakeCache.txt
	$(CMAKE) --build $(RELEASE) -j $(JOBS)

tsan: deps $(TSAN)/CMakeCache.txt
	$(CMAKE) --build $(TSAN) -j $(JOBS)
	cd $(TSAN) && ctest --output-on-failure -j $(JOBS) -L tsan

# The whole suite: format check, unit, contract, http, fault, fuzz-corpus replay, short stress,
# all in the INVARIANTS + ASan/UBSan build; then the threaded tests (label tsan) under TSan.
test: debug
	cd $(DEBUG) && ctest --output-on-failure -j $(JOBS) --timeout 300
	$(MAKE) --no-print-directory tsan

# Flaky-test hunt: every round exports a fresh VMSEND_STRESS_SEED (each stress test prints it;
# replay one with VMSEND_STRESS_SEED=S ctest -R NAME).  Stops at the first failing round.
test-repeat: debug
	@cd $(DEBUG) && for i in $$(seq 1 $(N)); do \
		seed=$$(od -An -N4 -tu4 /dev/urandom | tr -d ' '); \
		echo "== test-repeat round $$i of $(N): VMSEND_STRESS_SEED=$$seed"; \
		VMSEND_STRESS_SEED=$$seed ctest --output-on-failure -j $(JOBS) --timeout 300 \
			-L '^(stress|fault|http)$$' || { echo "== round $$i failed (VMSEND_STRESS_SEED=$$seed)"; exit 1; }; \
	done; echo "== test-repeat: $(N) rounds green"

# libvmsend (.so, .a, include/vmsend/*.h, vmsend.pc, CMake package) and the vmsend binary,
# from the release build, under PREFIX (default /usr/local); DESTDIR=... stages a package.
install: release
	$(CMAKE) --install $(RELEASE) --prefix $(PREFIX)

run: release
	scripts/demo-site.sh demo/site
	$(RELEASE)/src/cli/vmsend serve --listen 127.0.0.1:$(PORT) --root demo/site --allow-root

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

bench: release
	scripts/deps.sh bench
	bench/run

bench-quick: release
	scripts/deps.sh bench
	bench/run --quick

fuzz: debug
	$(DEBUG)/tests/contract/fuzz/contract_fuzz --seconds $(FUZZ_SECONDS)
	scripts/deps.sh fuzz
	$(CMAKE) -S . -B $(FUZZBLD) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DVMSEND_FUZZ=ON
	$(CMAKE) --build $(FUZZBLD) -j $(JOBS)
	tests/fuzz/run-all.sh $(FUZZBLD) $(FUZZ_SECONDS)

stress: debug
	$(DEBUG)/tests/stress/vmsend-stress --seconds $(STRESS_SECONDS)

incident: debug
	$(DEBUG)/src/cli/vmsend incident

soak: release
	scripts/deps.sh bench
	tests/soak/run.sh $(RELEASE)/src/cli/vmsend
	tests/soak/run.sh --h2 $(RELEASE)/src/cli/vmsend
	tests/soak/run.sh --tls $(RELEASE)/src/cli/vmsend

# Builds from the committed tree (git archive) with dpkg-buildpackage, runs lintian,
# then installs the package and starts it under scripts/deb-test.sh.  A few minutes.
deb: deps
	scripts/deps.sh deb
	scripts/deb.sh

clean:
	rm -rf build
