# Image-editor plug-ins (plugins/): GIMP 2.10 in C, Krita 5 in Python. See plugins/README.md.
#
#   make gimp-plugin          build/gimp/fluximage-export, linked against libfluximage
#   make gimp-plugin-install  copy it into the user's GIMP plug-in folder (GIMP_PLUGIN_DIR)
#   make gimp-test            run plugins/gimp/test.sh inside real GIMP (gimp -i) against the
#                             emulator; says SKIPPED and succeeds when GIMP is not installed
#   make krita-plugin-install copy the Krita plug-in (with the fluximage Python package and
#                             libfluximage) into the user's pykrita folder (KRITA_PYKRITA_DIR)
#   make krita-test           the plug-in's logic under pytest (always), then
#                             plugins/krita/test.sh inside real Krita (the application under
#                             xvfb-run) when Krita is installed, else says SKIPPED for that part
#
# Needs for the tests (Debian): gimp libgimp2.0-dev (GIMP), xvfb xauth (GIMP's dialog test),
# krita python3-pyqt5 (Krita), python3 and python3-venv (pytest, via mk/python.mk's venv).
#
# By default the GIMP plug-in is built against the build tree's library (build/pkgconfig/
# fluximage.pc, which records target/release as its run-time path). To build it against an
# installed libfluximage instead:  make gimp-plugin GIMP_FLX_PC=/usr/local/lib/pkgconfig/fluximage.pc

GIMP_BUILD      := $(BUILD)/gimp
GIMP_PLUGIN     := $(GIMP_BUILD)/fluximage-export
# The copy the tests drive, with the test hooks compiled in (the installed one has none).
GIMP_TEST_PLUGIN := $(GIMP_BUILD)/test/fluximage-export
GIMP_FLX_PC     ?= $(PC)
GIMP_PLUGIN_DIR ?= $(HOME)/.config/GIMP/2.10/plug-ins
GIMP_CFLAGS     := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-deprecated-declarations
# Built against the build tree: build the library and its .pc file first.
GIMP_LIB_DEPS   := $(if $(filter $(PC),$(GIMP_FLX_PC)),lib $(PC))

KRITA_DIR         := plugins/krita
KRITA_PYKRITA_DIR ?= $(HOME)/.local/share/krita/pykrita
KRITA_ACTIONS_DIR ?= $(HOME)/.local/share/krita/actions

# Whether GIMP and its headers are here (checked when make reads this file: the plug-in's
# build is a prerequisite of the test only then).
GIMP_FOUND  := $(shell command -v gimp >/dev/null 2>&1 && pkg-config --exists gimp-2.0 gimpui-2.0 2>/dev/null && echo yes)

.PHONY: gimp-plugin gimp-test-plugin gimp-plugin-install gimp-test krita-plugin-install krita-test krita-logic-test

gimp-plugin: $(GIMP_LIB_DEPS)
	@mkdir -p $(GIMP_BUILD)
	$(CC) $(GIMP_CFLAGS) $$(pkg-config --cflags gimp-2.0 gimpui-2.0 $(GIMP_FLX_PC)) \
	    plugins/gimp/fluximage-export.c -o $(GIMP_PLUGIN) \
	    $$(pkg-config --libs gimp-2.0 gimpui-2.0 $(GIMP_FLX_PC))
	@if strings $(GIMP_PLUGIN) | grep -q FLUXIMAGE_GIMP_TEST; then echo "$(GIMP_PLUGIN) holds test hooks"; exit 1; fi

gimp-test-plugin: $(GIMP_LIB_DEPS)
	@mkdir -p $(dir $(GIMP_TEST_PLUGIN))
	$(CC) $(GIMP_CFLAGS) -DFLX_GIMP_TEST_HOOKS $$(pkg-config --cflags gimp-2.0 gimpui-2.0 $(GIMP_FLX_PC)) \
	    plugins/gimp/fluximage-export.c -o $(GIMP_TEST_PLUGIN) \
	    $$(pkg-config --libs gimp-2.0 gimpui-2.0 $(GIMP_FLX_PC))

# GIMP 2.10 looks for plug-ins in plug-ins/NAME/NAME.
gimp-plugin-install: gimp-plugin
	install -d $(GIMP_PLUGIN_DIR)/fluximage-export
	install -m 0755 $(GIMP_PLUGIN) $(GIMP_PLUGIN_DIR)/fluximage-export/fluximage-export
	@echo "installed $(GIMP_PLUGIN_DIR)/fluximage-export/fluximage-export: restart GIMP, then File > Export > Export via Fluximage..."

ifeq ($(GIMP_FOUND),yes)
gimp-test: gimp-plugin gimp-test-plugin emulator
	timeout 900 plugins/gimp/test.sh $(CURDIR)/$(GIMP_TEST_PLUGIN) $(CURDIR)/$(EMULATOR)
else
gimp-test:
	@echo "SKIPPED: GIMP not installed (apt-get install gimp libgimp2.0-dev)"
endif

# The plug-in, the fluximage package (bindings/python/src) and the library, self-contained.
krita-plugin-install: lib
	$(KRITA_DIR)/install.sh $(KRITA_PYKRITA_DIR) $(KRITA_ACTIONS_DIR) $(LIB_SO)
	@echo "restart Krita, enable 'Fluximage Export' in Settings > Configure Krita > Python Plugin Manager, restart it again"

# The logic without Krita: pytest in mk/python.mk's venv, the package from the source tree.
krita-logic-test: lib emulator python-venv
	env -u FLUXIMAGE_API_KEY -u FLUXIMAGE_BASE_URL PYTHONDONTWRITEBYTECODE=1 \
	    PYTHONPATH=$(CURDIR)/bindings/python/src:$(CURDIR)/$(KRITA_DIR) \
	    FLUXIMAGE_LIB=$(CURDIR)/$(LIB_SO) FLUXIMAGE_EMULATOR=$(CURDIR)/$(EMULATOR) \
	    timeout 600 $(PY_BIN)/python -m pytest -q -p no:cacheprovider $(KRITA_DIR)/tests

# Inside real Krita: the whole application under a virtual display (kritarunner, Krita's
# scripting runner, loads no plug-ins and crashes when asked for a window; see the README).
krita-test: krita-logic-test
	@if ! command -v krita > /dev/null 2>&1; then \
	    echo "SKIPPED: Krita not installed (apt-get install krita python3-pyqt5): only the plug-in's logic was tested (pytest), not inside Krita"; \
	elif ! command -v xvfb-run > /dev/null 2>&1 || ! command -v xauth > /dev/null 2>&1; then \
	    echo "SKIPPED: the Krita test needs a virtual display (apt-get install xvfb xauth): only the plug-in's logic was tested (pytest), not inside Krita"; \
	else \
	    echo "timeout 900 $(KRITA_DIR)/test.sh $(CURDIR)/$(EMULATOR) $(CURDIR)/$(LIB_SO)"; \
	    timeout 900 $(KRITA_DIR)/test.sh $(CURDIR)/$(EMULATOR) $(CURDIR)/$(LIB_SO); \
	fi

TEST_TARGETS += gimp-test krita-test
