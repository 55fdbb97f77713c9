#!/bin/sh
# Runs the examples/cpp program built in BUILD_DIR against the emulator, as a user would, and
# checks what a user would see: a table, the files saved, nothing replaced on a second run
# unless asked. With README_APP (the README's C++ quickstart, built), runs it too on the
# cat.jpg and dog.png it names. Run by tests/cpp/run-tests.sh, which exports FLX_TEST_*.
#
#   tests/cpp/example-run.sh BUILD_DIR [README_APP]
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
bin=$1
readme_app=${2:-}
dir=$FLX_TEST_DIR/example
passed=0
failed=0
check() { # DESCRIPTION COMMAND...
    what=$1
    shift
    if "$@"; then passed=$((passed + 1)); echo "ok   $what"; else failed=$((failed + 1)); echo "FAIL $what"; fi
}
count() { find "$1" -type f | wc -l | tr -d ' '; }

mkdir -p "$dir/in"
python3 "$ROOT/scripts/gen_images.py" "$dir/in" > /dev/null || { echo "cannot generate images"; exit 1; }
n=$(count "$dir/in")
export FLUXIMAGE_API_KEY="$FLX_TEST_KEY" FLUXIMAGE_BASE_URL="$FLX_TEST_BASE_URL"

"$bin/compress_folder" "$dir/in" "$dir/out" > "$dir/run1.txt" 2>&1
status=$?
cat "$dir/run1.txt"
check "first run exits 0" [ $status -eq 0 ]
check "first run saves one file per image ($n)" [ "$(count "$dir/out")" = "$n" ]
check "the table names every output" [ "$(grep -c '\.webp' "$dir/run1.txt")" -ge "$n" ]
cksum "$dir"/out/* > "$dir/sums1" || echo "cannot read the outputs" >> "$dir/sums1"
# Compress requests the emulator has answered so far.
compresses() {
    python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1] + "/__control/stats"))["requests"]["compress"])' "$FLX_TEST_BASE_URL"
}
sent_before=$(compresses)

"$bin/compress_folder" "$dir/in" "$dir/out" > "$dir/run2.txt" 2>&1
status=$?
cat "$dir/run2.txt"
check "second run exits 1: the outputs exist" [ $status -eq 1 ]
check "second run says why for each image" [ "$(grep -c 'not saved: .*exists' "$dir/run2.txt")" = "$n" ]
cksum "$dir"/out/* > "$dir/sums2" || echo "cannot read the outputs again" >> "$dir/sums2"
check "second run replaced nothing" cmp -s "$dir/sums1" "$dir/sums2"
check "second run sent nothing: every name was taken" [ "$(compresses)" = "$sent_before" ]

"$bin/compress_folder" --rename --format avif "$dir/in" "$dir/out" > "$dir/run3.txt" 2>&1
status=$?
check "--rename --format avif exits 0" [ $status -eq 0 ]
check "--format avif saves new names beside the old ones" [ "$(find "$dir/out" -name '*.avif' | wc -l)" -eq "$n" ]

# The static build needs no libfluximage.so.
env -u LD_LIBRARY_PATH "$bin/compress_folder_static" --rename "$dir/in" "$dir/out" > "$dir/run4.txt" 2>&1
status=$?
check "the static build runs" [ $status -eq 0 ]
check "--rename adds -2 names" [ "$(find "$dir/out" -name '*-2.webp' | wc -l)" -eq "$n" ]

FLUXIMAGE_API_KEY=flx_live_0000000000000000000000000000000000000000 \
    "$bin/compress_folder" "$dir/in" "$dir/none" > "$dir/run5.txt" 2>&1
status=$?
cat "$dir/run5.txt"
check "an unknown key exits 2" [ $status -eq 2 ]
check "an unknown key is reported with HTTP 401" grep -q 'HTTP 401' "$dir/run5.txt"

if [ -n "$readme_app" ]; then
    mkdir -p "$dir/readme"
    cp "$dir/in/photo-wide.png" "$dir/readme/cat.jpg"
    cp "$dir/in/graphic-logo.png" "$dir/readme/dog.png"
    (cd "$dir/readme" && "$readme_app") > "$dir/run6.txt" 2>&1
    status=$?
    cat "$dir/run6.txt"
    check "the README's program exits 0" [ $status -eq 0 ]
    check "the README's program saves out/cat.avif" [ -s "$dir/readme/out/cat.avif" ]
    check "the README's program saves out/dog.avif" [ -s "$dir/readme/out/dog.avif" ]
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
