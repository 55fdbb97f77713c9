# The C++ side: include/fluximage.hpp, the CMake package, examples/cpp, tests/cpp.
#
#   make install        also installs fluximage.hpp and LIBDIR/cmake/fluximage/ (fluximageConfig.cmake,
#                       fluximageConfigVersion.cmake: targets fluximage::fluximage and
#                       fluximage::fluximage_static) through the cpp-install hook below
#   make cpp-test       the wrapper's tests (tests/cpp) plain, with ASan+UBSan and under valgrind;
#                       compile checks (C++17 and C++20, strict warnings, -fno-exceptions refused
#                       clearly); the CMake package from a temporary install, with examples/cpp
#                       built and run against the emulator and the README's C++ and CMake blocks
#
# Needs: c++ (g++ or clang++), cc, cmake >= 3.14, pkg-config, valgrind, python3 (sample images).

CPP_BUILD := $(BUILD)/cpp-test
CPP_WARN  := -std=c++17 -Wall -Wextra -Wpedantic -Werror
# What a careful user may turn on: the header must stay silent under it.
CPP_STRICT := -Wall -Wextra -Wpedantic -Werror -Wconversion -Wsign-conversion -Wshadow \
              -Wold-style-cast -Wnon-virtual-dtor -Wcast-qual
CPP_PKG     = $$(pkg-config --cflags fluximage)
CPP_PKGLIBS = $$(pkg-config --libs fluximage) -lpthread -Wl,-rpath,$(CURDIR)/$(TARGET)
CPP_ASAN  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CPP_ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
CPP_RUN   := tests/cpp/run-tests.sh
CPP_VALGRIND := valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
                --show-leak-kinds=definite --track-origins=yes --quiet \
                --suppressions=$(CURDIR)/tests/c/valgrind.supp
CPP_TEST_DEPS := tests/cpp/test_hpp.cpp tests/cpp/harness.hpp include/fluximage.hpp include/fluximage.h \
                 tests/c/support.c tests/c/support.h
# The package's files sit in LIBDIR/cmake/fluximage: fluximageConfig.cmake finds the library
# relative to itself, so this folder is fixed.
CPP_CMAKEDIR = $(LIBDIR)/cmake/fluximage
CPP_PTR_BYTES := $(shell echo $$(( $$(getconf LONG_BIT) / 8 )))

.PHONY: cpp-install cpp-uninstall cpp-test cpp-test-build cpp-compile-check cpp-package-test

install: cpp-install
uninstall: cpp-uninstall

cpp-install:
	install -d $(DESTDIR)$(INCDIR) $(DESTDIR)$(CPP_CMAKEDIR)
	install -m 0644 include/fluximage.hpp $(DESTDIR)$(INCDIR)/fluximage.hpp
	sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@MAJOR@|$(MAJOR)|g' \
	    -e "s|@INCDIR_FROM_LIBDIR@|$$(realpath -m --relative-to='$(LIBDIR)' '$(INCDIR)')|" \
	    mk/fluximageConfig.cmake.in > $(DESTDIR)$(CPP_CMAKEDIR)/fluximageConfig.cmake
	sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@MAJOR@|$(MAJOR)|g' -e 's|@SIZEOF_VOID_P@|$(CPP_PTR_BYTES)|g' \
	    mk/fluximageConfigVersion.cmake.in > $(DESTDIR)$(CPP_CMAKEDIR)/fluximageConfigVersion.cmake

cpp-uninstall:
	rm -f $(DESTDIR)$(INCDIR)/fluximage.hpp $(DESTDIR)$(CPP_CMAKEDIR)/fluximageConfig.cmake \
	      $(DESTDIR)$(CPP_CMAKEDIR)/fluximageConfigVersion.cmake
	-rmdir $(DESTDIR)$(CPP_CMAKEDIR) 2>/dev/null

$(CPP_BUILD)/test_hpp: $(CPP_TEST_DEPS) | lib $(PC)
	@mkdir -p $(CPP_BUILD)
	$(CC) -std=c11 -O1 -g -c tests/c/support.c -o $(CPP_BUILD)/support.o
	$(CXX) $(CPP_WARN) -O1 -g $(CPP_PKG) tests/cpp/test_hpp.cpp $(CPP_BUILD)/support.o -o $@ $(CPP_PKGLIBS)

$(CPP_BUILD)/test_hpp_asan: $(CPP_TEST_DEPS) | lib $(PC)
	@mkdir -p $(CPP_BUILD)
	$(CC) -std=c11 -O1 -g $(CPP_ASAN) -c tests/c/support.c -o $(CPP_BUILD)/support_asan.o
	$(CXX) $(CPP_WARN) -O1 -g $(CPP_ASAN) $(CPP_PKG) tests/cpp/test_hpp.cpp $(CPP_BUILD)/support_asan.o \
	    -o $@ $(CPP_PKGLIBS)

cpp-test-build: lib emulator $(PC) $(CPP_BUILD)/test_hpp $(CPP_BUILD)/test_hpp_asan

# The header under C++17 and C++20 with strict warnings (tests and example), and a clear
# refusal under -fno-exceptions.
cpp-compile-check: lib $(PC)
	@for std in c++17 c++20; do \
	    echo "$(CXX) -std=$$std $(CPP_STRICT) -fsyntax-only (tests/cpp, examples/cpp)"; \
	    $(CXX) -std=$$std $(CPP_STRICT) $(CPP_PKG) -fsyntax-only tests/cpp/test_hpp.cpp || exit 1; \
	    $(CXX) -std=$$std $(CPP_STRICT) $(CPP_PKG) -fsyntax-only examples/cpp/compress_folder.cpp || exit 1; \
	done
	@if $(CXX) -std=c++17 -fno-exceptions $(CPP_PKG) -fsyntax-only examples/cpp/compress_folder.cpp \
	        > $(CPP_BUILD)/noexcept.log 2>&1 || ! grep -q 'with -fno-exceptions use the C API' $(CPP_BUILD)/noexcept.log; then \
	    cat $(CPP_BUILD)/noexcept.log; echo "fluximage.hpp must refuse -fno-exceptions with a clear #error"; exit 1; fi
	@if $(CXX) -std=c++14 $(CPP_PKG) -fsyntax-only examples/cpp/compress_folder.cpp \
	        > $(CPP_BUILD)/cxx14.log 2>&1 || ! grep -q 'needs C++17' $(CPP_BUILD)/cxx14.log; then \
	    cat $(CPP_BUILD)/cxx14.log; echo "fluximage.hpp must refuse C++14 with a clear #error"; exit 1; fi
	@echo "cpp-compile-check: C++17 and C++20 clean; -fno-exceptions and C++14 refused clearly"

# make install into temporary prefixes, then examples/cpp and the README's blocks built with
# CMake from there, and the example run against the emulator.
cpp-package-test: lib emulator
	tests/cpp/package-test.sh "$(MAKE)"

# One after the other: valgrind and the cancel timings should not compete for the cores.
cpp-test: cpp-test-build
	@mkdir -p $(CPP_BUILD)
	$(MAKE) --no-print-directory cpp-compile-check
	$(CPP_RUN) --label plain $(CPP_BUILD)/test_hpp
	$(CPP_RUN) --label asan env $(CPP_ASAN_ENV) $(CPP_BUILD)/test_hpp_asan
	$(CPP_RUN) --label valgrind $(CPP_VALGRIND) $(CPP_BUILD)/test_hpp
	tests/cpp/package-test.sh "$(MAKE)"
	@echo "cpp-test: wrapper tests (plain, asan, valgrind), compile checks, CMake package and example: all passed"

TEST_TARGETS += cpp-test
