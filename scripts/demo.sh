#!/bin/sh
# The demo behind `make demo`: the flx CLI compresses sample images on the local emulator,
# in all four output formats, and the results are checked.
#
#   scripts/demo.sh            (after `make`; uses target/release and build/flx)
#
# Steps: start target/release/fluximage-emulator on a free loopback port; generate sample
# PNGs (photo-like and flat graphics) with scripts/gen_images.py; run
# `build/flx compress --format F` for webp, avif, jpg and png into separate folders; check that
# every output exists, is the format asked for (magic bytes) and, for photo-like images in the
# lossy formats, is smaller than its input; show `build/flx usage`. The emulator is stopped on
# exit. Exits non-zero on any failure. The images stay in build/demo/ (emptied at each run;
# DEMO_DIR=DIR puts them elsewhere) and the last line says where.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
EMULATOR=$ROOT/target/release/fluximage-emulator
FLX=$ROOT/build/flx
PYTHON=${PYTHON:-python3}

for f in "$EMULATOR" "$FLX"; do
    [ -x "$f" ] || { echo "demo: $f is missing: run make first" >&2; exit 1; }
done
command -v "$PYTHON" > /dev/null || { echo "demo: $PYTHON is needed to generate the sample images" >&2; exit 1; }

work=${DEMO_DIR:-$ROOT/build/demo}
case $work in /*) ;; *) work=$PWD/$work ;; esac
rm -rf "$work"
mkdir -p "$work"
. "$ROOT"/scripts/emulator.sh
cleanup() {
    emulator_stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM

emulator_start "$work"

# The emulator's built-in Agency key; a real key would come from the dashboard.
export FLUXIMAGE_API_KEY=flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3
export FLUXIMAGE_BASE_URL="$base"
echo "== Fluximage emulator on $base"

echo "== Sample images (photo-like: gradients and noise; graphic: flat shapes)"
"$PYTHON" "$ROOT/scripts/gen_images.py" "$work/in" | while read -r name size; do
    printf '   %-22s %8s bytes\n' "$name" "$size"
done

# The magic bytes of a file, as the format they announce: webp, avif, jpg, png or "unknown".
sniff() {
    head=$(od -An -tx1 -N12 "$1" | tr -d ' \n')
    case $head in
        52494646????????57454250) echo webp ;;          # RIFF....WEBP
        ????????6674797061766966) echo avif ;;          # ....ftypavif
        ????????6674797061766973) echo avif ;;          # ....ftypavis
        ffd8ff*) echo jpg ;;
        89504e470d0a1a0a*) echo png ;;
        *) echo unknown ;;
    esac
}

failures=0
check() { # check CONDITION-STATUS MESSAGE
    if [ "$1" -ne 0 ]; then
        echo "   FAILED: $2" >&2
        failures=$((failures + 1))
    fi
}

for fmt in webp avif jpg png; do
    out=$work/out-$fmt
    echo
    echo "== flx compress --format $fmt $work/in -o $out"
    rc=0
    "$FLX" compress --format "$fmt" "$work/in" -o "$out" || rc=$?
    check $rc "flx compress --format $fmt exited with status $rc"
    for input in "$work"/in/*.png; do
        name=$(basename "$input" .png)
        result=$out/$name.$fmt
        if [ ! -s "$result" ]; then
            check 1 "$result was not written"
            continue
        fi
        got=$(sniff "$result")
        [ "$got" = "$fmt" ]
        check $? "$result holds $got data, not $fmt"
        before=$(wc -c < "$input")
        after=$(wc -c < "$result")
        case $name:$fmt in
            photo-*:webp | photo-*:avif | photo-*:jpg)
                [ "$after" -lt "$before" ]
                check $? "$name.$fmt ($after bytes) is not smaller than $name.png ($before bytes)"
                ;;
        esac
    done
done

echo
echo "== flx usage"
rc=0
"$FLX" usage || rc=$?
check $rc "flx usage exited with status $rc"

echo
if [ $failures -ne 0 ]; then
    echo "demo: FAILED ($failures problem(s))" >&2
    exit 1
fi
echo "demo: ok: 4 formats, every result decodes as its format, photo-like images shrank in webp/avif/jpg"
echo "demo: the inputs are in $work/in and the results in $work/out-<format> (kept; rerunning replaces them)"
