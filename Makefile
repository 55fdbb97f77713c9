# libfluximage: build, demo, test, install.
#
#   make            release build of libfluximage.so/.a, the header, fluximage.pc and the flx CLI
#   make demo       the main job end to end on the bundled emulator
#   make test       every test (Rust, C under valgrind and ASan, Python, Go, editor plug-ins)
#   make install    PREFIX=/usr/local DESTDIR= (library, SONAME links, header, pkg-config file)
#
# Each area keeps its own rules in mk/*.mk and adds its test target to TEST_TARGETS.

PREFIX  ?= /usr/local
DESTDIR ?=
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
CARGO   ?= cargo
CC      ?= cc

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
TARGET  := target/release
BUILD   := build
LIB_SO  := $(TARGET)/libfluximage.so
LIB_A   := $(TARGET)/libfluximage.a
PC      := $(BUILD)/pkgconfig/fluximage.pc
PC_STATIC := $(BUILD)/pkgconfig/fluximage-static.pc
EMULATOR := $(TARGET)/fluximage-emulator

# Point pkg-config and the dynamic loader at the build tree.
export PKG_CONFIG_PATH := $(CURDIR)/$(BUILD)/pkgconfig:$(PKG_CONFIG_PATH)
export LD_LIBRARY_PATH := $(CURDIR)/$(TARGET):$(LD_LIBRARY_PATH)

TEST_TARGETS :=

.PHONY: all lib emulator demo test install uninstall clean rust-test header header-check readme-test FORCE
.DEFAULT_GOAL := all

all: lib emulator $(PC) $(PC_STATIC) examples

# The .so and .a are built by their own rustc run, without the rlib that `cargo build` makes
# alongside: with an rlib in the same run, every public Rust item stays exported through LTO,
# so nothing is internalised and the C library keeps code and unwind tables only Rust callers
# could use (2.85 -> 2.63 MB stripped; fat LTO in Cargo.toml then gains 0.2 MB more, which it
# cannot with the rlib). The C library also leaves out the log records no C caller can read
# (`log-off` in Cargo.toml): 2.32 MB in all. A plain `cargo build` still works, just larger.
lib:
	$(CARGO) rustc --release --locked -p fluximage --lib --crate-type cdylib,staticlib --features log-off
	@ln -sf libfluximage.so $(TARGET)/libfluximage.so.$(MAJOR)

emulator:
	$(CARGO) build --release --locked -p fluximage-emulator

# pkg-config files for the build tree (make install writes them for PREFIX): fluximage.pc
# links the shared library and records the build tree in the runtime path, so programs built
# against it run without LD_LIBRARY_PATH; fluximage-static.pc links the archive. They are
# rewritten whenever their text would change (a moved tree, a new version), never left stale.
PC_SED = sed -e 's|@PREFIX@|$(CURDIR)|' -e 's|@LIBDIR@|$(CURDIR)/$(TARGET)|' -e 's|@INCDIR@|$(CURDIR)/include|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@RPATH@|-Wl,-rpath,$${libdir} |'
$(PC) $(PC_STATIC): $(BUILD)/pkgconfig/%.pc: mk/%.pc.in FORCE | lib
	@mkdir -p $(dir $@)
	@$(PC_SED) $< > $@.tmp && if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@ && echo "wrote $@"; fi

FORCE:

install: lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)
	install -m 0755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/libfluximage.so.$(VERSION)
	ln -sf libfluximage.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libfluximage.so.$(MAJOR)
	ln -sf libfluximage.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libfluximage.so
	install -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/libfluximage.a
	install -m 0644 include/fluximage.h $(DESTDIR)$(INCDIR)/fluximage.h
	for pc in fluximage fluximage-static; do \
	    sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
	        -e 's|@VERSION@|$(VERSION)|' -e 's|@RPATH@||' mk/$$pc.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/$$pc.pc; \
	done

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libfluximage.so* $(DESTDIR)$(LIBDIR)/libfluximage.a \
	      $(DESTDIR)$(INCDIR)/fluximage.h $(DESTDIR)$(LIBDIR)/pkgconfig/fluximage.pc \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/fluximage-static.pc

# The header is generated on purpose, from src/ffi by cbindgen (build.rs, `header` feature):
# `make header` rewrites include/fluximage.h; `make header-check` (part of make test)
# generates a fresh copy in build/ and fails when the committed one differs.
header:
	FLUXIMAGE_HEADER_OUT=$(CURDIR)/include/fluximage.h $(CARGO) check --locked -p fluximage --features header

header-check:
	FLUXIMAGE_HEADER_OUT=$(CURDIR)/$(BUILD)/header/fluximage.h $(CARGO) check --locked -p fluximage --features header
	@cmp -s $(BUILD)/header/fluximage.h include/fluximage.h || { diff -u include/fluximage.h $(BUILD)/header/fluximage.h | head -40; \
	    echo "include/fluximage.h differs from a fresh generation: run make header and commit it"; exit 1; }

# Every code block of the READMEs compiled or run against the emulator (scripts/readme-blocks.py).
readme-test: lib emulator $(PC) $(PC_STATIC) python-install
	EMULATOR=$(CURDIR)/$(EMULATOR) PYTHON=$(PY_BIN)/python GO=$(GO) \
	    $(PYTHON) scripts/readme-blocks.py README.md bindings/python/README.md bindings/go/README.md

rust-test:
	$(CARGO) fmt --all -- --check
	$(CARGO) test --locked --workspace
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

TEST_TARGETS += header-check rust-test readme-test

include $(sort $(wildcard mk/*.mk))

test: all $(TEST_TARGETS)
	@echo "make test: all suites passed ($(TEST_TARGETS))"

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
