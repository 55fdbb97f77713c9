#!/bin/sh
# `make demo` as a newcomer runs it (issue 12.7): the demo must pass, keep its results after it
# exits, and its last line must name the folder they are in.
#
#   tests/demo-test.sh         (after `make`)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dir=$ROOT/build/demo-test
rm -rf "$dir"
log=$ROOT/build/demo-test.log
DEMO_DIR=$dir "$ROOT"/scripts/demo.sh > "$log" 2>&1 || { tail -20 "$log"; echo "demo-test: the demo failed" >&2; exit 1; }
last=$(tail -n 1 "$log")
case $last in
    *"$dir/out-"*) ;;
    *) echo "demo-test: the last line does not say where the results are: $last" >&2; exit 1 ;;
esac
inputs=$(ls "$dir"/in/*.png | wc -l)
[ "$inputs" -gt 0 ] || { echo "demo-test: no sample inputs in $dir/in" >&2; exit 1; }
for fmt in webp avif jpg png; do
    n=$(ls "$dir/out-$fmt"/*."$fmt" 2>/dev/null | wc -l)
    [ "$n" -eq "$inputs" ] || { echo "demo-test: $dir/out-$fmt holds $n results after the demo exited, not $inputs" >&2; exit 1; }
done
echo "demo-test: ok: $inputs inputs, results in 4 formats kept in $dir"
