#!/bin/sh
# Runs the C API example (examples/compress.c) against the emulator, through
# tests/c/run-tests.sh, which sets FLX_TEST_BASE_URL, FLX_TEST_KEY and FLX_TEST_DIR.
#
#   tests/c/run-tests.sh tests/c/example-test.sh [COMMAND...]
#
# COMMAND defaults to build/example-compress; pass `valgrind ... build/example-compress` to
# check every run for memory errors and leaks. Ends with the line "N passed, M failed".
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ $# -gt 0 ]; then EXAMPLE="$*"; else EXAMPLE=$ROOT/build/example-compress; fi
: "${FLX_TEST_BASE_URL:?run through tests/c/run-tests.sh}" "${FLX_TEST_KEY:?}" "${FLX_TEST_DIR:?}"
W=$FLX_TEST_DIR/example
mkdir -p "$W"
passed=0
failed=0
problem() { echo "    $*"; bad=1; }
start() { name=$1; bad=0; }
finish() {
    if [ "$bad" -eq 0 ]; then echo "ok   $name"; passed=$((passed + 1)); else echo "FAIL $name"; failed=$((failed + 1)); fi
}
# run EXPECTED_STATUS ARGS...: runs the example, output in $W/out.
run() {
    want=$1
    shift
    # shellcheck disable=SC2086 # $EXAMPLE may be a command with arguments (valgrind ...)
    $EXAMPLE "$@" > "$W/out" 2>&1
    got=$?
    [ "$got" -eq "$want" ] || { problem "exited with $got, expected $want"; sed 's/^/        /' "$W/out"; }
}
is_avif() { [ "$(od -An -tx1 -j4 -N4 "$1" 2>/dev/null | tr -d ' \n')" = 66747970 ]; }

export FLUXIMAGE_API_KEY=$FLX_TEST_KEY FLUXIMAGE_BASE_URL=$FLX_TEST_BASE_URL
"${PYTHON:-python3}" "$ROOT/scripts/gen_images.py" "$W/in" > /dev/null || { echo "cannot generate images"; echo "0 passed, 1 failed"; exit 1; }

start "every image compressed and saved as AVIF (the folder is created)"
run 0 "$W/out1" "$W"/in/*.png
for f in "$W"/in/*.png; do
    r=$W/out1/$(basename "$f" .png).avif
    is_avif "$r" || problem "$r is missing or not AVIF"
done
grep -q -- "-> $W/out1//*photo-wide.avif" "$W/out" || problem "no line for photo-wide.png"
finish

start "a rerun never replaces the saved results"
before=$(cksum < "$W/out1/photo-wide.avif")
run 1 "$W/out1" "$W/in/photo-wide.png"
grep -q "photo-wide.png: not saved: .*exists" "$W/out" || problem "the existing file is not reported"
[ "$(cksum < "$W/out1/photo-wide.avif")" = "$before" ] || problem "photo-wide.avif was replaced"
finish

start "a broken image fails alone; exit 1"
printf 'not an image' > "$W/broken.png"
run 1 "$W/out2" "$W/broken.png" "$W/in/photo-wide.png"
grep -q "broken.png: failed" "$W/out" || problem "the failure is not reported"
is_avif "$W/out2/photo-wide.avif" || problem "the good image was not saved"
finish

start "no key: exit 2 with the reason"
FLUXIMAGE_API_KEY= run 2 "$W/out3" "$W/in/photo-wide.png"
grep -q "FLUXIMAGE_API_KEY" "$W/out" || problem "the reason does not name FLUXIMAGE_API_KEY"
finish

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
