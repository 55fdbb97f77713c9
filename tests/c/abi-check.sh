#!/bin/sh
# ABI checks of the built shared library (make abi-check):
#   1. the dynamic symbol table exports only flx_ symbols (nm -D --defined-only);
#   2. the exported functions are exactly the functions include/fluximage.h declares
#      (none missing, none undeclared);
#   3. the SONAME is libfluximage.so.<MAJOR> (libfluximage.so.0 for 0.x);
#   4. the header declares only flx_/FLX_ names (typedefs, tags, macros, enum values), so it
#      cannot clash with a user's own identifiers.
#
# Toolchain symbols: with Rust's cdylib version script and GNU ld, nothing but the
# #[no_mangle] exports is defined in the dynamic table (inspected for 0.1.0: 47 symbols, all
# flx_). Should a toolchain add its usual unprefixed markers, they are listed in ALLOWED below
# and tolerated; anything else fails.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SO=${1:-$ROOT/target/release/libfluximage.so}
HEADER=$ROOT/include/fluximage.h
ALLOWED='^(_init|_fini|_edata|_end|__bss_start|_DYNAMIC|_GLOBAL_OFFSET_TABLE_)$'
fail=0

[ -f "$SO" ] || { echo "abi-check: $SO not found (run make lib)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nm -D --defined-only "$SO" | awk '{print $NF}' | sed 's/@.*//' | sort -u > "$tmp/defined"
grep -Ev '^flx_' "$tmp/defined" | grep -Ev "$ALLOWED" > "$tmp/foreign" || true
if [ -s "$tmp/foreign" ]; then
    echo "abi-check: symbols without the flx_ prefix are exported:" >&2
    sed 's/^/    /' "$tmp/foreign" >&2
    fail=1
fi

# Function declarations: lines that start outside a comment and contain "flx_name(".
grep -E '^[A-Za-z]' "$HEADER" | grep -oE '\bflx_[a-z0-9_]+\(' | tr -d '(' | sort -u > "$tmp/declared"
grep -E '^flx_' "$tmp/defined" > "$tmp/exported" || true
comm -23 "$tmp/declared" "$tmp/exported" > "$tmp/missing"
comm -13 "$tmp/declared" "$tmp/exported" > "$tmp/undeclared"
if [ -s "$tmp/missing" ]; then
    echo "abi-check: declared in fluximage.h but not exported:" >&2
    sed 's/^/    /' "$tmp/missing" >&2
    fail=1
fi
if [ -s "$tmp/undeclared" ]; then
    echo "abi-check: exported but not declared in fluximage.h:" >&2
    sed 's/^/    /' "$tmp/undeclared" >&2
    fail=1
fi

major=$(sed -n 's/^#define FLX_VERSION_MAJOR \([0-9]*\).*/\1/p' "$HEADER")
soname=$(readelf -d "$SO" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" != "libfluximage.so.$major" ]; then
    echo "abi-check: SONAME is '${soname:-none}', expected libfluximage.so.$major" >&2
    fail=1
fi

# Names the header puts in the user's namespace (comments stripped first).
sed -e 's://.*$::' "$HEADER" | awk '
    /\/\*/ { c = 1 } { if (!c) print } /\*\// { c = 0 }' > "$tmp/code"
{
    grep -oE '^#define [A-Za-z_][A-Za-z0-9_]*' "$tmp/code" | awk '{print $2}'
    grep -oE '^typedef (struct|enum|union) [A-Za-z_][A-Za-z0-9_]*' "$tmp/code" | awk '{print $3}'
    grep -oE '^typedef (struct|enum|union) [A-Za-z_][A-Za-z0-9_]* [A-Za-z_][A-Za-z0-9_]*;' "$tmp/code" | awk '{print $4}' | tr -d ';'
    grep -oE '^} [A-Za-z_][A-Za-z0-9_]*;' "$tmp/code" | awk '{print $2}' | tr -d ';'
    grep -oE '^ +[A-Z_][A-Z0-9_]* = ' "$tmp/code" | awk '{print $1}'
    grep -oE '\(\*[A-Za-z_][A-Za-z0-9_]*\)' "$tmp/code" | tr -d '(*)'
} | sort -u | grep -Ev '^(flx_|FLX_|FLUXIMAGE_H$)' > "$tmp/names" || true
if [ -s "$tmp/names" ]; then
    echo "abi-check: include/fluximage.h declares names without the flx_/FLX_ prefix," >&2
    echo "           which clash with user code (e.g. a user's own 'typedef ... Format;'):" >&2
    sed 's/^/    /' "$tmp/names" >&2
    fail=1
fi

if [ $fail -ne 0 ]; then
    echo "abi-check: FAILED" >&2
    exit 1
fi
echo "abi-check: ok: $(wc -l < "$tmp/exported") flx_ functions exported, all declared in the header; no other symbols; SONAME $soname"
