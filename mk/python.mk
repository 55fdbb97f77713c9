# The Python package (bindings/python): a test venv, mypy --strict, pytest, and the wheel.
#
#   make python-test    venv under build/python-venv (pytest, mypy, the package installed with
#                       the freshly built libfluximage bundled), then mypy --strict and pytest
#   make python-wheel   build/dist/fluximage-<version>-py3-none-manylinux_2_<N>_x86_64.whl, with
#                       the stripped library and emulator bundled (mk/release.mk)
#                       and the emulator (for fluximage.testing)
#
# Needs python3 with the venv module (Debian: python3-venv) and PyPI for pytest, mypy and
# setuptools; nothing is installed outside build/.

PYTHON     ?= python3
PY_DIR     := bindings/python
PY_VENV    := $(BUILD)/python-venv
PY_BIN     := $(CURDIR)/$(PY_VENV)/bin
PY_PIP     := $(PY_BIN)/python -m pip --disable-pip-version-check
# Upper bound for the whole pytest run (the suite takes about a minute).
PY_TEST_TIMEOUT ?= 1200

.PHONY: python-venv python-install python-test python-wheel

$(PY_VENV)/.ready: $(PY_DIR)/pyproject.toml mk/python.mk
	rm -rf $(PY_VENV)
	$(PYTHON) -m venv $(PY_VENV)
	$(PY_PIP) install --quiet "setuptools>=70.1" "wheel" "pytest>=7" "mypy>=1.5"
	touch $@

python-venv: $(PY_VENV)/.ready

# The package as a user gets it from `pip install bindings/python` (library bundled).
python-install: lib python-venv
	rm -rf $(PY_DIR)/build
	$(PY_PIP) install --quiet --no-deps --no-build-isolation --force-reinstall ./$(PY_DIR)

python-test: lib emulator python-install
	cd $(PY_DIR) && $(PY_BIN)/python -m mypy --strict src/fluximage
	cd $(PY_DIR) && env -u FLUXIMAGE_LIB -u FLUXIMAGE_API_KEY -u FLUXIMAGE_BASE_URL \
	    FLUXIMAGE_EMULATOR=$(CURDIR)/$(EMULATOR) \
	    timeout $(PY_TEST_TIMEOUT) $(PY_BIN)/python -m pytest tests

TEST_TARGETS += python-test
