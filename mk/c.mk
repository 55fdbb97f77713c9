# The C side (owned by the C area): the C API example, the demo, the C tests.
#
#   make examples       build/example-compress, the C API example (examples/compress.c)
#   make demo           flx on the bundled emulator, all four formats, outputs checked and
#                       kept in build/demo/
#   make c-test         C tests (tests/c): plain, under valgrind, with ASan+UBSan, linked
#                       statically; the header compiled as C++17; the C API example run
#                       against the emulator, plain and under valgrind
#   make abi-check      only flx_ symbols exported, all declared in the header; SONAME
#   make install-test   make install into a temporary PREFIX, build and run a program with it
#
# Needs: cc, c++, pkg-config, valgrind, python3 (demo only).

C_BUILD   := $(BUILD)/c-test
C_WARN    := -std=c11 -Wall -Wextra -Werror -Wpedantic -Wstrict-prototypes
# The build-tree pkg-config file gives -I.../include and -L.../target/release -lfluximage.
C_PKG     = $$(pkg-config --cflags fluximage)
C_PKGLIBS = $$(pkg-config --libs fluximage)
# Static: fluximage-static.pc names the archive (-l:libfluximage.a), as the README says.
C_PKGSTATIC = $$(pkg-config --static --libs fluximage-static)
# Binaries in the build tree find the library there without LD_LIBRARY_PATH.
C_RPATH   := -Wl,-rpath,$(CURDIR)/$(TARGET)
C_TEST_SRC := tests/c/test_api.c tests/c/harness.c tests/c/support.c
C_TEST_HDR := tests/c/harness.h tests/c/support.h include/fluximage.h
C_RUN     := tests/c/run-tests.sh
VALGRIND  ?= valgrind
# tests/c/valgrind.supp: known false positives inside ring's TLS assembly only (see the file).
VALGRIND_FLAGS := --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
                  --show-leak-kinds=definite --track-origins=yes --quiet \
                  --suppressions=$(CURDIR)/tests/c/valgrind.supp
# ASan/UBSan in the C test only (the Rust .so is unchanged; ASan intercepts its malloc/free).
C_ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
C_ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
              UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: examples demo c-test c-test-build c-test-plain c-test-valgrind c-test-asan c-test-static \
        c-test-cxx c-test-example abi-check install-test

examples: lib $(PC)
	@mkdir -p $(BUILD)
	$(CC) $(C_WARN) -O2 -g $(C_PKG) examples/compress.c -o $(BUILD)/example-compress $(C_PKGLIBS) $(C_RPATH)

demo: all
	scripts/demo.sh

# The demo as `make demo` runs it, its results kept where its last line says (issue 12.7).
demo-test: all
	tests/demo-test.sh

TEST_TARGETS += demo-test

# ---- C tests ----------------------------------------------------------------------------

c-test-build: lib emulator $(PC) $(PC_STATIC)
	@mkdir -p $(C_BUILD)
	$(CC) $(C_WARN) -O1 -g $(C_PKG) $(C_TEST_SRC) -o $(C_BUILD)/test_api $(C_PKGLIBS) -lpthread $(C_RPATH)
	$(CC) $(C_WARN) -O1 -g $(C_PKG) tests/c/test_sync.c tests/c/harness.c tests/c/support.c -o $(C_BUILD)/test_sync $(C_PKGLIBS) -lpthread $(C_RPATH)
	$(CC) $(C_WARN) -O1 -g $(C_ASAN_FLAGS) $(C_PKG) $(C_TEST_SRC) -o $(C_BUILD)/test_api_asan \
	    $(C_PKGLIBS) -lpthread $(C_RPATH)
	$(CC) $(C_WARN) -O1 -g $(C_PKG) $(C_TEST_SRC) -o $(C_BUILD)/test_api_static $(C_PKGSTATIC) -lpthread
	@if readelf -d $(C_BUILD)/test_api_static | grep -q 'NEEDED.*libfluximage'; then \
	    echo "test_api_static is linked to libfluximage.so, not the archive"; exit 1; fi
	$(CXX) -std=c++17 -Wall -Wextra -Werror -Wpedantic $(C_PKG) tests/c/cxx_header.cpp \
	    -o $(C_BUILD)/cxx_header $(C_PKGLIBS) $(C_RPATH)

c-test-cxx: c-test-build
	$(C_BUILD)/cxx_header

c-test-plain: c-test-build
	$(C_RUN) --label plain $(C_BUILD)/test_api

# Smaller images (FLX_TEST_SMALL) under valgrind; every test still runs.
c-test-valgrind: c-test-build
	$(C_RUN) --small --label valgrind $(VALGRIND) $(VALGRIND_FLAGS) $(C_BUILD)/test_api

c-test-asan: c-test-build
	$(C_RUN) --label asan env $(C_ASAN_ENV) $(C_BUILD)/test_api_asan

c-test-static: c-test-build
	$(C_RUN) --small --label static env LD_LIBRARY_PATH= $(C_BUILD)/test_api_static

# The C API example (tests/c/example-test.sh), then again with every run under valgrind.
# (flx itself is Rust, in cli/, tested by cargo test: see mk/cli.mk.)
c-test-example: examples emulator
	$(C_RUN) --label example tests/c/example-test.sh $(BUILD)/example-compress
	$(C_RUN) --label example-valgrind tests/c/example-test.sh $(VALGRIND) $(VALGRIND_FLAGS) $(BUILD)/example-compress

# One after the other (not as parallel prerequisites): the timing checks of the cancel tests
# should not compete with valgrind for the two cores.
c-test: c-test-build examples
	$(C_BUILD)/cxx_header
	$(C_RUN) --label plain $(C_BUILD)/test_api
	$(C_RUN) --small --label valgrind $(VALGRIND) $(VALGRIND_FLAGS) $(C_BUILD)/test_api
	$(C_RUN) --label sync $(C_BUILD)/test_sync
	$(C_RUN) --small --label sync-valgrind $(VALGRIND) $(VALGRIND_FLAGS) $(C_BUILD)/test_sync
	$(C_RUN) --label asan env $(C_ASAN_ENV) $(C_BUILD)/test_api_asan
	$(C_RUN) --small --label static env LD_LIBRARY_PATH= $(C_BUILD)/test_api_static
	$(C_RUN) --label example tests/c/example-test.sh $(BUILD)/example-compress
	$(C_RUN) --label example-valgrind tests/c/example-test.sh $(VALGRIND) $(VALGRIND_FLAGS) $(BUILD)/example-compress
	@echo "c-test: API tests (plain, valgrind, asan, static), C++ header, C example (plain, valgrind): all passed"

abi-check: lib
	tests/c/abi-check.sh $(LIB_SO)

install-test: lib
	CC="$(CC)" tests/c/install-test.sh "$(MAKE)"

TEST_TARGETS += c-test abi-check install-test
