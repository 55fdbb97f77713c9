#!/bin/sh
# The CMake package as a user meets it (make cpp-package-test, part of make cpp-test):
#   1. make install PREFIX=<temp>; the C++ header and the package files are there;
#   2. the README's C++ quickstart and CMake lines, extracted from README.md, configured with
#      -DCMAKE_PREFIX_PATH=<temp> and built (shared), from a folder outside the source tree;
#   3. a staged install (make install PREFIX=/opt/flx DESTDIR=<temp>) is relocatable: examples/cpp
#      configured against it finds the library there, builds the shared and the static program;
#   4. find_package with a version the package does not satisfy fails and says which it has;
#   5. make uninstall removes what the C++ side installed;
#   6. examples/cpp and the README's program run against the emulator (tests/cpp/example-run.sh).
#
#   tests/cpp/package-test.sh [MAKE]
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MAKE=${1:-make}
work=$(mktemp -d "${TMPDIR:-/tmp}/flx-cpp-package.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() { echo "cpp package-test: $*" >&2; exit 1; }
# Configure and build a CMake project; its log is shown only on failure.
cmake_build() { # SOURCE BUILD PREFIX_PATH
    { cmake -S "$1" -B "$2" -DCMAKE_PREFIX_PATH="$3" -DCMAKE_BUILD_TYPE=Release &&
        cmake --build "$2"; } > "$2.log" 2>&1 || { cat "$2.log" >&2; fail "cannot build $1 with CMake"; }
}

echo "== C++ package: make install PREFIX=$work/prefix"
"$MAKE" -C "$ROOT" --no-print-directory install PREFIX="$work/prefix" DESTDIR= > "$work/install.log" 2>&1 ||
    { cat "$work/install.log" >&2; fail "make install failed"; }
for f in include/fluximage.hpp include/fluximage.h lib/cmake/fluximage/fluximageConfig.cmake \
         lib/cmake/fluximage/fluximageConfigVersion.cmake; do
    [ -f "$work/prefix/$f" ] || fail "$work/prefix/$f was not installed"
done
if grep -q "$ROOT" "$work/prefix/lib/cmake/fluximage/"*.cmake; then
    fail "the installed CMake package points into the source tree"
fi

echo "== C++ package: the README's C++ quickstart and CMake lines"
mkdir "$work/readme"
# The first ```cpp and ```cmake blocks of the "## C++ quickstart" section.
block() { # LANGUAGE
    awk -v lang="$1" '
        /^## / { in_section = ($0 == "## C++ quickstart") }
        in_section && !done && $0 == "```" lang { inside = 1; next }
        inside && $0 == "```" { inside = 0; done = 1; next }
        inside { print }
    ' "$ROOT/README.md"
}
block cpp > "$work/readme/main.cpp"
block cmake > "$work/readme/CMakeLists.txt"
[ -s "$work/readme/main.cpp" ] || fail "README.md has no \`\`\`cpp block under \"## C++ quickstart\""
[ -s "$work/readme/CMakeLists.txt" ] || fail "README.md has no \`\`\`cmake block under \"## C++ quickstart\""
grep -q 'add_executable(app main.cpp)' "$work/readme/CMakeLists.txt" ||
    fail "the README's CMake block should build app from main.cpp (the quickstart)"
cmake_build "$work/readme" "$work/readme-build" "$work/prefix"
[ -x "$work/readme-build/app" ] || fail "the README's project built no app"

echo "== C++ package: staged install (DESTDIR), moved, used by examples/cpp"
"$MAKE" -C "$ROOT" --no-print-directory install PREFIX=/opt/flx DESTDIR="$work/stage" > "$work/stage.log" 2>&1 ||
    { cat "$work/stage.log" >&2; fail "make install DESTDIR=... failed"; }
mv "$work/stage/opt/flx" "$work/moved"
cmake_build "$ROOT/examples/cpp" "$work/example" "$work/moved"
grep -q "fluximage_DIR:PATH=$work/moved/lib/cmake/fluximage" "$work/example/CMakeCache.txt" ||
    fail "CMake found another fluximage package: $(grep fluximage_DIR "$work/example/CMakeCache.txt")"
loaded=$(env -u LD_LIBRARY_PATH ldd "$work/example/compress_folder" | sed -n 's/.*libfluximage[^ ]* => \([^ ]*\).*/\1/p')
case "$loaded" in
    "$work/moved/lib/"*) ;;
    *) fail "compress_folder loads libfluximage from '$loaded', not from the installed $work/moved/lib" ;;
esac
if readelf -d "$work/example/compress_folder_static" | grep -q 'NEEDED.*libfluximage'; then
    fail "compress_folder_static needs libfluximage.so: fluximage::fluximage_static is not the archive"
fi

echo "== C++ package: version checks"
mkdir "$work/version"
cat > "$work/version/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.14)
project(version_check LANGUAGES C)
find_package(fluximage ${WANT} REQUIRED)
message(STATUS "found fluximage ${fluximage_VERSION}")
EOF
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)
major=${version%%.*}
cmake -S "$work/version" -B "$work/version/ok" -DCMAKE_PREFIX_PATH="$work/prefix" -DWANT="$major.0" \
    > "$work/version-ok.log" 2>&1 || { cat "$work/version-ok.log" >&2; fail "find_package(fluximage $major.0) failed"; }
grep -q "found fluximage $version" "$work/version-ok.log" || fail "fluximage_VERSION is not $version"
if cmake -S "$work/version" -B "$work/version/new" -DCMAKE_PREFIX_PATH="$work/prefix" -DWANT="$((major + 1)).0" \
    > "$work/version-new.log" 2>&1; then
    fail "find_package(fluximage $((major + 1)).0) accepted version $version"
fi
grep -q "$version" "$work/version-new.log" || { cat "$work/version-new.log" >&2; fail "the refusal does not name version $version"; }

echo "== C++ package: examples/cpp and the README's program against the emulator"
"$ROOT/tests/cpp/run-tests.sh" --label example "$ROOT/tests/cpp/example-run.sh" "$work/example" "$work/readme-build/app"

# Last: the README's program above runs from this prefix.
echo "== C++ package: make uninstall removes the C++ header and the package"
"$MAKE" -C "$ROOT" --no-print-directory uninstall PREFIX="$work/prefix" DESTDIR= > "$work/uninstall.log" 2>&1 ||
    { cat "$work/uninstall.log" >&2; fail "make uninstall failed"; }
for f in include/fluximage.hpp lib/cmake/fluximage; do
    [ ! -e "$work/prefix/$f" ] || fail "make uninstall left $work/prefix/$f"
done

echo "cpp package-test: ok (install, README blocks, relocatable staged install, shared and static targets, versions, example run)"
