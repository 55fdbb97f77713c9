#!/bin/sh
# The GIMP plug-in, tested inside real GIMP 2.10 against the local emulator.
#
#   plugins/gimp/test.sh PLUGIN_BINARY EMULATOR_BINARY        (make gimp-test runs it)
#
# Every GIMP run uses a throw-away profile (HOME in a temporary folder) with the plug-in
# installed in it, starts `gimp -i` in batch mode, and drives the plug-in from Script-Fu:
#
#   formats   an 800x600 photo-like image (plasma + a translucent layer) is made inside GIMP,
#             exported once as a plain PNG (level 9), then through plug-in-fluximage-export
#             non-interactively as webp, avif, jpg and png; every output must exist, have the
#             right magic bytes, load back in GIMP with the right size, and (lossy formats)
#             be smaller than the plain PNG; the format taken from the extension; max size
#   invalid   unknown format, quality out of range, a folder as output, a file where a
#             folder should be: clear errors, no output, GIMP still running; a missing
#             folder is created (libfluximage 0.2)
#   gimprc    no FLUXIMAGE_API_KEY, the key in gimprc (fluximage-api-key): works
#   bad key   an unknown key: a clear message (401), no output, an existing file untouched,
#             the key never printed, GIMP still running
#   no key    neither variable nor gimprc: a message saying how to set the key
#   malformed a key of the wrong shape: a message saying so, the key never printed
#   cancel    a stalled server and the cancel hook: the call ends promptly, no output, no
#             temporary file left; then a used-up free key: a clear "credits" message (402)
#   dialog    (needs xvfb-run) the interactive dialog, its Export button clicked by the test
#             hook: the file is written where the dialog suggested; then its Cancel button
#             during a stalled upload; then RUN-WITH-LAST-VALS; the credits shown before
#             the export; with the AI options ticked, the alt text shown and copied, the file
#             SEO-named; a free plan's AI options greyed out with the reason; no credits
#             left: Export greyed out with what to do
#
# Ends with "N passed, M failed" and a non-zero status on any failure. KEEP=1 keeps the work
# folder (printed) for inspection.
set -u

PLUGIN=${1:?usage: test.sh PLUGIN_BINARY EMULATOR_BINARY}
EMULATOR=${2:?usage: test.sh PLUGIN_BINARY EMULATOR_BINARY}
GIMP=${GIMP:-gimp}
PYTHON=${PYTHON:-python3}
AGENCY_KEY=flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3
UNKNOWN_KEY=flx_live_0123456789abcdef0123456789abcdef01234567
SPENT_KEY=flx_live_5e47000000000000000000000000000000000001 # made a free plan, 20 of 20 used
FREE_KEY=flx_live_2d66ab250124b9f72713a4575147eca36d2adb18   # the emulator's built-in free plan

for f in "$PLUGIN" "$EMULATOR"; do
    [ -x "$f" ] || { echo "gimp-test: $f is missing or not executable"; exit 1; }
done
command -v "$GIMP" > /dev/null || { echo "gimp-test: $GIMP not found"; exit 1; }
command -v "$PYTHON" > /dev/null || { echo "gimp-test: $PYTHON is needed (emulator control)"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/flx-gimp-test.XXXXXX")
. "$(cd "$(dirname "$0")/../.." && pwd)/scripts/emulator.sh"
cleanup() {
    emulator_stop
    if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

out=$work/out
mkdir -p "$out" "$work/tmp"
# The plug-in's temporary folders go here, so the test can see that none is left behind.
export TMPDIR=$work/tmp

# ---- the emulator -----------------------------------------------------------------------
cat > "$work/keys.json" <<EOF
[{"key": "$SPENT_KEY", "plan": "free", "compressor_used": 20}]
EOF
emulator_start "$work" --control --keys "$work/keys.json"
export FLUXIMAGE_BASE_URL=$base
unset FLUXIMAGE_API_KEY FLUXIMAGE_GIMP_TEST_CANCEL_AFTER_MS FLUXIMAGE_GIMP_TEST_CLICK_EXPORT

# control PATH [JSON]: POST to the emulator's control API.
control() {
    "$PYTHON" - "$base/__control/$1" "${2:-}" <<'EOF'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST")
urllib.request.urlopen(req, timeout=10).read()
EOF
}

# ---- helpers, and how this test installs the plug-in ---------------------------------------
. "$(dirname "$0")/testlib.sh"
install_plugin() { # where `make gimp-plugin-install` puts it
    mkdir -p "$1/fluximage-export"
    cp "$PLUGIN" "$1/fluximage-export/fluximage-export"
}

echo "GIMP plug-in tests (GIMP $("$GIMP" --version | sed 's/.* //'), emulator on $base)"

# ---- 1. formats -------------------------------------------------------------------------
start formats
export FLUXIMAGE_API_KEY=$AGENCY_KEY
run_gimp formats "
(define img (make-test-image 800 600))
(plain-png img \"$out/plain.png\")
(say \"webp \" (flx-export img \"$out/photo.webp\" \"webp\" 82 0 0))
(say \"avif \" (flx-export img \"$out/photo.avif\" \"avif\" 60 0 0))
(say \"jpg \" (flx-export img \"$out/photo.jpg\" \"jpg\" 82 0 0))
(say \"png \" (flx-export img \"$out/photo.png\" \"png\" 82 0 0))
(say \"auto \" (flx-export img \"$out/auto.jpeg\" \"\" 75 0 0))
(say \"small \" (flx-export img \"$out/small.webp\" \"webp\" 82 200 0))
(say \"decode-webp \" (decode \"$out/photo.webp\"))
(say \"decode-avif \" (decode \"$out/photo.avif\"))
(say \"decode-jpg \" (decode \"$out/photo.jpg\"))
(say \"decode-png \" (decode \"$out/photo.png\"))
(say \"decode-auto \" (decode \"$out/auto.jpeg\"))
(say \"decode-small \" (decode \"$out/small.webp\"))
"
gimp_ok
plain=$(size "$out/plain.png" 2> /dev/null || echo 0)
[ "$plain" -gt 100000 ] || problem "the plain PNG export is missing or too small ($plain bytes)"
for fmt in webp avif jpg png; do
    f=$out/photo.$fmt
    expect "$fmt" "ok *"
    expect "decode-$fmt" "800 600"
    if [ -s "$f" ]; then
        [ "$(magic "$f")" = "$fmt" ] || problem "$f is $(magic "$f"), not $fmt"
        # The procedure returns the uploaded size and the written size.
        [ "$(result "$fmt" | cut -d' ' -f3)" = "$(size "$f")" ] ||
            problem "$fmt: compressed-size $(result "$fmt" | cut -d' ' -f3) != file size $(size "$f")"
        if [ "$fmt" != png ] && [ "$(size "$f")" -ge "$plain" ]; then
            problem "$f ($(size "$f") bytes) is not smaller than the plain PNG ($plain bytes)"
        fi
        echo "     $fmt: $(size "$f") bytes (plain PNG: $plain bytes)"
    else
        problem "$f was not written"
    fi
done
expect auto "ok *"
[ "$(magic "$out/auto.jpeg")" = jpg ] || problem "auto.jpeg is $(magic "$out/auto.jpeg"), not jpg"
expect decode-auto "800 600"
expect small "ok *"
expect decode-small "200 150"
has "Exported photo.webp with Fluximage: "
has "% smaller)"
no_leftovers
finish

# ---- 2. invalid arguments ---------------------------------------------------------------
start invalid_arguments
echo "not a folder" > "$out/plain.txt"
run_gimp invalid "
(define img (make-test-image 64 48))
(say \"gif \" (flx-export img \"$out/x.gif\" \"gif\" 82 0 0))
(say \"noext \" (flx-export img \"$out/noext\" \"\" 82 0 0))
(say \"quality \" (flx-export img \"$out/q.webp\" \"webp\" 30 0 0))
(say \"folder \" (flx-export img \"$out\" \"webp\" 82 0 0))
(say \"nodir \" (flx-export img \"$out/no/such/dir/x.webp\" \"webp\" 82 0 0))
(say \"underfile \" (flx-export img \"$out/plain.txt/sub/x.webp\" \"webp\" 82 0 0))
(say \"empty \" (flx-export img \"\" \"webp\" 82 0 0))
"
gimp_ok
for k in gif noext quality folder underfile empty; do expect $k error; done
expect nodir "ok *"
[ "$(magic "$out/no/such/dir/x.webp")" = webp ] || problem "the export into a missing folder was not written"
rm -rf "$out/no"
has 'unknown format "gif"'
has "no format given, and the file name does not end in"
has "quality must be between 40 and 100"
has "the output path is a folder"
has "no output file was given"
has "$out/plain.txt is not a folder"
[ "$(cat "$out/plain.txt")" = "not a folder" ] || problem "plain.txt was changed"
rm -f "$out/plain.txt"
absent "$out/x.gif"
absent "$out/noext"
absent "$out/q.webp"
no_leftovers
finish

# ---- 3. the key from gimprc -------------------------------------------------------------
start key_from_gimprc
unset FLUXIMAGE_API_KEY
GIMPRC_LINE="(fluximage-api-key \"$AGENCY_KEY\")"
run_gimp gimprc "
(define img (make-test-image 64 48))
(say \"rc \" (flx-export img \"$out/rc.webp\" \"webp\" 82 0 0))
"
unset GIMPRC_LINE
gimp_ok
expect rc "ok *"
[ "$(magic "$out/rc.webp")" = webp ] || problem "rc.webp was not written as WebP"
hasnt "$AGENCY_KEY"
finish

# ---- 4. an unknown key ------------------------------------------------------------------
start bad_key
export FLUXIMAGE_API_KEY=$UNKNOWN_KEY
printf 'old contents\n' > "$out/existing.webp"
run_gimp badkey "
(define img (make-test-image 64 48))
(say \"new \" (flx-export img \"$out/bad.webp\" \"webp\" 82 0 0))
(say \"existing \" (flx-export img \"$out/existing.webp\" \"webp\" 82 0 0))
"
gimp_ok
expect new error
expect existing error
has "Fluximage could not export the image"
has "401"
has "FLUXIMAGE_API_KEY"
absent "$out/bad.webp"
[ "$(cat "$out/existing.webp")" = "old contents" ] || problem "a failed export changed an existing file"
hasnt "0123456789abcdef0123456789abcdef01234567"
no_leftovers
finish

# ---- 5. no key at all -------------------------------------------------------------------
start no_key
unset FLUXIMAGE_API_KEY
run_gimp nokey "
(define img (make-test-image 64 48))
(say \"nokey \" (flx-export img \"$out/nokey.webp\" \"webp\" 82 0 0))
"
gimp_ok
expect nokey error
has "No Fluximage API key: set the environment variable FLUXIMAGE_API_KEY"
absent "$out/nokey.webp"
finish

# ---- 6. a malformed key -----------------------------------------------------------------
start malformed_key
export FLUXIMAGE_API_KEY=flx_live_0123456789abcdef # too short
run_gimp malformed "
(define img (make-test-image 64 48))
(say \"malformed \" (flx-export img \"$out/malformed.webp\" \"webp\" 82 0 0))
"
gimp_ok
expect malformed error
has "The Fluximage API key is not usable"
has "Set the environment variable FLUXIMAGE_API_KEY to the key"
hasnt "0123456789abcdef"
absent "$out/malformed.webp"
finish

# ---- 7. cancel, and used-up credits -----------------------------------------------------
start cancel_and_quota
export FLUXIMAGE_API_KEY=$SPENT_KEY FLUXIMAGE_GIMP_TEST_CANCEL_AFTER_MS=1500
control reset
# The next compress request is read, then left unanswered for 20 s.
control fault '{"mode":"stall","delay_ms":20000,"path":"compress","count":1}'
t0=$(date +%s)
run_gimp cancel "
(define img (make-test-image 320 240))
(say \"cancel \" (flx-export img \"$out/cancelled.webp\" \"webp\" 82 0 0))
(say \"quota \" (flx-export img \"$out/quota.webp\" \"webp\" 82 0 0))
"
t1=$(date +%s)
unset FLUXIMAGE_GIMP_TEST_CANCEL_AFTER_MS
gimp_ok
expect cancel cancelled
expect quota error
[ $((t1 - t0)) -lt 18 ] || problem "the cancelled export was not stopped promptly ($((t1 - t0)) s)"
has "credits"
absent "$out/cancelled.webp"
absent "$out/quota.webp"
no_leftovers
finish

# ---- 8. the dialog (interactive mode under a virtual display) ---------------------------
if command -v xvfb-run > /dev/null 2>&1 && command -v xauth > /dev/null 2>&1; then
    start dialog
    export FLUXIMAGE_API_KEY=$AGENCY_KEY FLUXIMAGE_GIMP_TEST_CLICK_EXPORT=1 \
        FLUXIMAGE_GIMP_TEST_CANCEL_AFTER_MS=1500
    control reset
    control fault '{"mode":"stall","delay_ms":20000,"path":"compress","count":1}'
    # Interactive runs suggest $HOME/<image name>.<ext> for an unsaved image.
    run_gimp dialog "
(define img (make-test-image 400 300))
(say \"first \" (flx-run RUN-INTERACTIVE img \"\" \"\" 0 0 0))
(say \"second \" (flx-run RUN-INTERACTIVE img \"\" \"\" 0 0 0))
(say \"size \" (decode \"$work/home-dialog/Untitled.webp\"))
(say \"last \" (flx-run RUN-WITH-LAST-VALS img \"\" \"\" 0 0 0))
" xvfb-run -a
    unset FLUXIMAGE_GIMP_TEST_CLICK_EXPORT FLUXIMAGE_GIMP_TEST_CANCEL_AFTER_MS
    gimp_ok
    # First: Export clicked, the upload stalls, Cancel clicked: cancelled, no file yet.
    expect first cancelled
    # Second: Export clicked, written to the suggested path.
    expect second "ok *"
    home_out=$work/home-dialog/Untitled.webp
    [ "$(magic "$home_out")" = webp ] || problem "the dialog did not write $home_out"
    has "Exported Untitled.webp with Fluximage: "
    expect size "400 300"
    expect last "ok *"
    # Before the export: the credits from GET /api/usage, the AI options available.
    expect credits "Fluximage plan agency: unlimited compressions, * AI credits left."
    expect ai "available *"
    expect export "available *"
    finish

    # The AI options ticked: the alt text shown after the export and copied by its button;
    # the file named after the SEO name in the suggested folder.
    start dialog_ai
    export FLUXIMAGE_GIMP_TEST_CLICK_EXPORT=1 FLUXIMAGE_GIMP_TEST_AI=1
    run_gimp dialogai "
(define img (make-test-image 400 300))
(say \"ai-run \" (flx-run RUN-INTERACTIVE img \"\" \"\" 0 0 0))
" xvfb-run -a
    unset FLUXIMAGE_GIMP_TEST_AI
    gimp_ok
    expect ai-run "ok *"
    expect clipboard "A 400×300 image, mostly *"
    has "Alt text: A 400×300 image"
    ls "$work/home-dialogai/"*-image-400x300.webp > /dev/null 2>&1 ||
        problem "no SEO-named file in $work/home-dialogai: $(ls "$work/home-dialogai")"
    absent "$work/home-dialogai/Untitled.webp"
    finish

    # A free plan: the AI options greyed out with the reason; the export still works.
    start dialog_free_plan
    export FLUXIMAGE_API_KEY=$FREE_KEY FLUXIMAGE_GIMP_TEST_AI=1
    control reset
    run_gimp dialogfree "
(define img (make-test-image 200 150))
(say \"free-run \" (flx-run RUN-INTERACTIVE img \"\" \"\" 0 0 0))
" xvfb-run -a
    unset FLUXIMAGE_GIMP_TEST_AI
    gimp_ok
    expect credits "Fluximage plan free: 20 of 20 compressions left this billing period, 0 AI credits left."
    expect ai "greyed AI alt text and SEO names need a paid Fluximage plan*"
    expect free-run "ok *"
    [ "$(magic "$work/home-dialogfree/Untitled.webp")" = webp ] || problem "the free plan's export was not written"
    finish

    # No compressions left: Export greyed out, with what to do.
    start dialog_no_credits
    export FLUXIMAGE_API_KEY=$SPENT_KEY
    run_gimp dialogspent "
(define img (make-test-image 200 150))
(say \"spent-run \" (flx-run RUN-INTERACTIVE img \"\" \"\" 0 0 0))
" xvfb-run -a
    unset FLUXIMAGE_GIMP_TEST_CLICK_EXPORT
    gimp_ok
    expect credits "Fluximage plan free: 0 of 20 compressions left this billing period*"
    expect export "greyed No compressions are left this billing period*(402)*dashboard*"
    expect spent-run cancelled
    absent "$work/home-dialogspent/Untitled.webp"
    finish
else
    echo "SKIPPED: dialog test (xvfb-run or xauth not installed: apt-get install xvfb xauth)"
fi

report
