# Image-editor plug-ins (plugins/): GIMP 2.10 in C, Krita 5 in Python. See plugins/README.md.
#
#   make gimp-plugin          build/gimp/fluximage-export: libfluximage linked in statically,
#                             so the plug-in needs nothing from this tree at run time
#   make gimp-plugin-install  copy it into the user's GIMP plug-in folder (GIMP_PLUGIN_DIR)
#   make gimp-plugin-dist     build/dist/fluximage-gimp-<version>-linux-<arch>.tar.gz: the
#                             plug-in folder (stripped binary) and a short README
#   make gimp-test            inside real GIMP (gimp -i) against the emulator: the plug-in built
#                             with its test hooks (plugins/gimp/test.sh), then the dist archive
#                             unpacked into a fresh profile (plugins/gimp/dist-test.sh); says
#                             SKIPPED and succeeds when GIMP is not installed
#   make krita-plugin-zip     build/dist/fluximage-krita-<version>.zip, for Krita's Tools >
#                             Scripts > Import Python Plugin from File… (plug-in, the fluximage
#                             Python package and libfluximage.so inside)
#   make krita-plugin-install the same zip extracted into the user's Krita resources
#                             (KRITA_RESOURCES_DIR), as Krita's importer lays it out
#   make krita-test           the plug-in's logic under pytest (always), then
#                             plugins/krita/test.sh: the zip imported by Krita's own importer
#                             into a fresh profile, then used inside real Krita (under xvfb-run)
#                             when Krita is installed, else says SKIPPED for that part
#
# Needs for the tests (Debian): gimp libgimp2.0-dev (GIMP), xvfb xauth (GIMP's dialog test),
# krita python3-pyqt5 (Krita), python3 and python3-venv (pytest, via mk/python.mk's venv).
#
# The GIMP plug-in links $(LIB_A) by default; GIMP_FLX_A=/usr/local/lib/libfluximage.a
# GIMP_FLX_INC=/usr/local/include builds it against an installed copy instead. Test hooks
# (environment variables that click buttons) are compiled in only with -DFLX_PLUGIN_TESTING,
# for build/gimp-test/; the installed and distributed builds have none.

GIMP_BUILD       := $(BUILD)/gimp
GIMP_PLUGIN      := $(GIMP_BUILD)/fluximage-export
GIMP_TEST_PLUGIN := $(BUILD)/gimp-test/fluximage-export
GIMP_FLX_A       ?= $(LIB_A)
GIMP_FLX_INC     ?= include
GIMP_PLUGIN_DIR  ?= $(HOME)/.config/GIMP/2.10/plug-ins
GIMP_CFLAGS      := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-deprecated-declarations \
                    -DPLUG_IN_VERSION='"$(VERSION)"'
# Rust's standard library needs these beside the static library; --gc-sections drops the
# parts of it the plug-in never calls.
GIMP_FLX_LIBS    := $(GIMP_FLX_A) -lpthread -ldl -lm -Wl,--gc-sections
GIMP_SRC         := plugins/gimp/fluximage-export.c
# Built against the build tree: build the library first.
GIMP_LIB_DEPS    := $(if $(filter $(LIB_A),$(GIMP_FLX_A)),lib)

DIST_DIR       := $(BUILD)/dist
GIMP_ARCH      := $(shell uname -m)
GIMP_DIST      := $(DIST_DIR)/fluximage-gimp-$(VERSION)-linux-$(GIMP_ARCH).tar.gz
KRITA_ZIP      := $(DIST_DIR)/fluximage-krita-$(VERSION).zip

KRITA_DIR           := plugins/krita
KRITA_RESOURCES_DIR ?= $(HOME)/.local/share/krita

# Whether GIMP and its headers are here (checked when make reads this file: the plug-in's
# build is a prerequisite of the test only then).
GIMP_FOUND  := $(shell command -v gimp >/dev/null 2>&1 && pkg-config --exists gimp-2.0 gimpui-2.0 2>/dev/null && echo yes)

.PHONY: gimp-plugin gimp-plugin-test-build gimp-plugin-install gimp-plugin-dist gimp-test \
        krita-plugin-zip krita-plugin-install krita-test krita-logic-test

# gimp_link OUTPUT EXTRA-CFLAGS
define gimp_link
	@mkdir -p $(dir $(1))
	$(CC) $(GIMP_CFLAGS) $(2) -I$(GIMP_FLX_INC) $$(pkg-config --cflags gimp-2.0 gimpui-2.0) \
	    $(GIMP_SRC) -o $(1) $(GIMP_FLX_LIBS) $$(pkg-config --libs gimp-2.0 gimpui-2.0)
endef

gimp-plugin: $(GIMP_LIB_DEPS)
	$(call gimp_link,$(GIMP_PLUGIN),)

gimp-plugin-test-build: $(GIMP_LIB_DEPS)
	$(call gimp_link,$(GIMP_TEST_PLUGIN),-DFLX_PLUGIN_TESTING)

# GIMP 2.10 looks for plug-ins in plug-ins/NAME/NAME.
gimp-plugin-install: gimp-plugin
	install -d $(GIMP_PLUGIN_DIR)/fluximage-export
	install -m 0755 $(GIMP_PLUGIN) $(GIMP_PLUGIN_DIR)/fluximage-export/fluximage-export
	@echo "installed $(GIMP_PLUGIN_DIR)/fluximage-export/fluximage-export: restart GIMP, then File > Export > Export via Fluximage..."

# The archive a user unpacks into a plug-in folder: fluximage-export/{fluximage-export,README.txt}.
# Owner, order and times are fixed so that the same sources give the same archive.
gimp-plugin-dist: gimp-plugin
	rm -rf $(DIST_DIR)/gimp && mkdir -p $(DIST_DIR)/gimp/fluximage-export
	strip --strip-unneeded -o $(DIST_DIR)/gimp/fluximage-export/fluximage-export $(GIMP_PLUGIN)
	sed -e "s/@VERSION@/$(VERSION)/g" -e "s/@ARCH@/$(GIMP_ARCH)/g" plugins/gimp/README.dist.txt > $(DIST_DIR)/gimp/fluximage-export/README.txt
	chmod 0755 $(DIST_DIR)/gimp/fluximage-export/fluximage-export
	chmod 0644 $(DIST_DIR)/gimp/fluximage-export/README.txt
	tar -C $(DIST_DIR)/gimp --sort=name --owner=0 --group=0 --numeric-owner \
	    --mtime="$$(git log -1 --format=@%ct 2>/dev/null || echo @0)" \
	    -czf $(GIMP_DIST) fluximage-export
	rm -rf $(DIST_DIR)/gimp
	@echo "wrote $(GIMP_DIST)"

ifeq ($(GIMP_FOUND),yes)
gimp-test: gimp-plugin-test-build gimp-plugin-dist emulator
	timeout 900 plugins/gimp/test.sh $(CURDIR)/$(GIMP_TEST_PLUGIN) $(CURDIR)/$(EMULATOR)
	timeout 600 plugins/gimp/dist-test.sh $(CURDIR)/$(GIMP_DIST) $(CURDIR)/$(EMULATOR)
else
gimp-test:
	@echo "SKIPPED: GIMP not installed (apt-get install gimp libgimp2.0-dev)"
endif

# The plug-in, the fluximage package (bindings/python/src) and the library, in one zip.
krita-plugin-zip: lib
	@mkdir -p $(DIST_DIR)
	python3 $(KRITA_DIR)/make_zip.py $(KRITA_ZIP) $(VERSION) $(LIB_SO)
	@echo "wrote $(KRITA_ZIP)"

krita-plugin-install: krita-plugin-zip
	$(KRITA_DIR)/install.sh $(KRITA_ZIP) $(KRITA_RESOURCES_DIR)
	@echo "restart Krita, enable 'Fluximage Export' in Settings > Configure Krita > Python Plugin Manager, restart it again"

# The logic without Krita: pytest in mk/python.mk's venv, the package from the source tree.
krita-logic-test: lib emulator python-venv
	env -u FLUXIMAGE_API_KEY -u FLUXIMAGE_BASE_URL PYTHONDONTWRITEBYTECODE=1 \
	    PYTHONPATH=$(CURDIR)/bindings/python/src:$(CURDIR)/$(KRITA_DIR) \
	    FLUXIMAGE_LIB=$(CURDIR)/$(LIB_SO) FLUXIMAGE_EMULATOR=$(CURDIR)/$(EMULATOR) \
	    timeout 600 $(PY_BIN)/python -m pytest -q -p no:cacheprovider $(KRITA_DIR)/tests

# Inside real Krita: the whole application under a virtual display (kritarunner, Krita's
# scripting runner, loads no plug-ins and crashes when asked for a window; see the README).
krita-test: krita-logic-test krita-plugin-zip
	@if ! command -v krita > /dev/null 2>&1; then \
	    echo "SKIPPED: Krita not installed (apt-get install krita python3-pyqt5): only the plug-in's logic was tested (pytest), not inside Krita"; \
	elif ! command -v xvfb-run > /dev/null 2>&1 || ! command -v xauth > /dev/null 2>&1; then \
	    echo "SKIPPED: the Krita test needs a virtual display (apt-get install xvfb xauth): only the plug-in's logic was tested (pytest), not inside Krita"; \
	else \
	    echo "timeout 900 $(KRITA_DIR)/test.sh $(CURDIR)/$(EMULATOR) $(CURDIR)/$(KRITA_ZIP)"; \
	    timeout 900 $(KRITA_DIR)/test.sh $(CURDIR)/$(EMULATOR) $(CURDIR)/$(KRITA_ZIP); \
	fi

TEST_TARGETS += gimp-test krita-test
