#!/bin/sh
# Install test (make install-test): installs into a temporary PREFIX, then builds and runs a
# C program from a folder outside the source tree, finding the library only through the
# installed pkg-config file, exactly as a user would. Also checks a staged DESTDIR install.
#
#   tests/c/install-test.sh [MAKE]
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MAKE=${1:-make}
CC=${CC:-cc}
prefix=$(mktemp -d "${TMPDIR:-/tmp}/flx-prefix.XXXXXX")
stage=$(mktemp -d "${TMPDIR:-/tmp}/flx-stage.XXXXXX")
app=$(mktemp -d "${TMPDIR:-/tmp}/flx-app.XXXXXX")
trap 'rm -rf "$prefix" "$stage" "$app"' EXIT

fail() { echo "install-test: $*" >&2; exit 1; }

echo "== install-test: make install PREFIX=$prefix"
"$MAKE" -C "$ROOT" --no-print-directory install PREFIX="$prefix" DESTDIR= > "$app/install.log" 2>&1 ||
    { cat "$app/install.log" >&2; fail "make install failed"; }

for f in include/fluximage.h lib/libfluximage.a lib/pkgconfig/fluximage.pc bin/flx share/man/man1/flx.1 \
    share/bash-completion/completions/flx share/zsh/site-functions/_flx share/fish/vendor_completions.d/flx.fish; do
    [ -f "$prefix/$f" ] || fail "$prefix/$f was not installed"
done
[ -L "$prefix/lib/libfluximage.so" ] || fail "the libfluximage.so link is missing"
[ -L "$prefix/lib/libfluximage.so.0" ] || fail "the libfluximage.so.0 (SONAME) link is missing"
[ -f "$(readlink -f "$prefix/lib/libfluximage.so")" ] || fail "libfluximage.so points nowhere"
"$prefix/bin/flx" --version > /dev/null || fail "the installed flx does not run"

# A user's program, in a folder of its own; only the installed files are visible.
cat > "$app/hello.c" <<'EOF'
#include <fluximage.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    const char *v = flx_version();
    printf("libfluximage %s\n", v);
    flx_client *c = flx_client_new("flx_live_not-a-key");
    int refused = c == NULL && flx_last_error()[0] != '\0';
    flx_client_free(c);
    return strcmp(v, FLX_VERSION_STRING) == 0 && refused ? 0 : 1;
}
EOF
cd "$app"
pc() { env -u PKG_CONFIG_LIBDIR PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config "$@"; }
pc --exists fluximage || fail "pkg-config does not find fluximage in $prefix/lib/pkgconfig"
cflags=$(pc --cflags fluximage)
libs=$(pc --libs fluximage)
case "$cflags $libs" in
    *"$ROOT"*) fail "the installed fluximage.pc points into the source tree: $cflags $libs" ;;
esac
# shellcheck disable=SC2086 # word splitting of pkg-config output is intended
"$CC" -std=c11 -Wall -Wextra -Werror $cflags hello.c $libs -o hello || fail "cannot build against the installed library"
out=$(env LD_LIBRARY_PATH="$prefix/lib" ./hello) || fail "the program failed: $out"
echo "$out"
version=$(sed -n 's/^#define FLX_VERSION_STRING "\(.*\)"/\1/p' "$prefix/include/fluximage.h")
[ "$out" = "libfluximage $version" ] || fail "printed '$out', expected 'libfluximage $version'"
loaded=$(env LD_LIBRARY_PATH="$prefix/lib" ldd ./hello | sed -n 's/.*libfluximage[^ ]* => \([^ ]*\).*/\1/p')
case "$loaded" in
    "$prefix"/lib/*) ;;
    *) fail "the program loaded libfluximage from '$loaded', not from $prefix/lib" ;;
esac

# Static linking against the installed archive.
# shellcheck disable=SC2086
"$CC" -std=c11 $cflags hello.c $(pc --static --libs fluximage-static) \
    -o hello-static || fail "cannot link the installed libfluximage.a"
if readelf -d hello-static | grep -q 'NEEDED.*libfluximage'; then fail "hello-static still needs libfluximage.so"; fi
./hello-static > /dev/null || fail "the statically linked program failed"

# A staged install (packagers): everything under DESTDIR, paths in the .pc without it.
"$MAKE" -C "$ROOT" --no-print-directory install PREFIX=/opt/flx DESTDIR="$stage" > "$app/stage.log" 2>&1 ||
    { cat "$app/stage.log" >&2; fail "make install DESTDIR=... failed"; }
[ -f "$stage/opt/flx/include/fluximage.h" ] || fail "DESTDIR install misplaced the header"
[ -L "$stage/opt/flx/lib/libfluximage.so.0" ] || fail "DESTDIR install misplaced the library"
grep -q "^libdir=/opt/flx/lib$" "$stage/opt/flx/lib/pkgconfig/fluximage.pc" ||
    fail "the staged fluximage.pc does not name /opt/flx/lib: $(grep libdir "$stage/opt/flx/lib/pkgconfig/fluximage.pc")"

echo "install-test: ok (PREFIX install, pkg-config build from outside the tree, static link, DESTDIR staging)"
