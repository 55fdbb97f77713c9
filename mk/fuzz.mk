# Coverage-guided fuzzing (fuzz/, AFL++ through cargo-afl) and leak checks (owned by the fuzz
# area). See scripts/fuzz.sh and SECURITY.md for the figures of the long runs.
#
#   make fuzz FUZZ_SECONDS=600   every target for N seconds each (default 60); fails on any
#                                crash or hang; prints execs/s and paths found per target
#   make fuzz-smoke              a few seconds per target, then the planted-bug build, which
#                                every target must catch (part of `make test`)
#   make leak-test               20,000 C API calls with an RSS bound (part of `make test`;
#                                the Python and Go leak tests run in their own suites)
#
# Engine: AFL++ through cargo-afl (crates.io), which instruments on stable Rust and builds
# AFL++ itself when installed: nothing else to fetch. Installed with `cargo install` on first use.

FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 4
CARGO_AFL_VERSION ?= 0.18.2

.PHONY: fuzz fuzz-smoke fuzz-tools leak-test

fuzz-tools:
	@command -v cargo-afl > /dev/null 2>&1 || $(CARGO) install --locked cargo-afl --version $(CARGO_AFL_VERSION)

fuzz: fuzz-tools
	scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz-smoke: fuzz-tools
	CARGO_PROFILE_RELEASE_LTO=false CARGO_TARGET_DIR=$(CURDIR)/target/fuzz $(CARGO) afl clippy --locked -p fluximage-fuzz --all-targets -- -D warnings
	scripts/fuzz.sh $(FUZZ_SMOKE_SECONDS)
	scripts/fuzz.sh --planted

$(BUILD)/leak_loop: tests/c/leak_loop.c include/fluximage.h | lib $(PC)
	@mkdir -p $(BUILD)
	$(CC) $(C_WARN) -O1 -g $(C_PKG) $< -o $@ $(C_PKGLIBS) $(C_RPATH)

leak-test: $(BUILD)/leak_loop emulator
	EMULATOR=$(CURDIR)/$(EMULATOR) LEAK_LOOP=$(CURDIR)/$(BUILD)/leak_loop sh tests/c/leak-test.sh

TEST_TARGETS += fuzz-smoke leak-test
