#!/bin/sh
# Tests of the flx example CLI (build/flx), run through tests/c/run-tests.sh, which starts the
# emulator and sets FLX_TEST_BASE_URL, FLX_TEST_KEY and FLX_TEST_DIR.
#
#   tests/c/run-tests.sh tests/c/cli-test.sh [FLX_COMMAND...]
#
# FLX_COMMAND defaults to build/flx; pass e.g. `valgrind --error-exitcode=99 ... build/flx` to
# check every run for memory errors and leaks (a valgrind error changes the exit status, so
# the test fails). Ends with the line "N passed, M failed".
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ $# -gt 0 ]; then FLX="$*"; else FLX=$ROOT/build/flx; fi
: "${FLX_TEST_BASE_URL:?run through tests/c/run-tests.sh}" "${FLX_TEST_KEY:?}" "${FLX_TEST_DIR:?}"
W=$FLX_TEST_DIR/cli
mkdir -p "$W"
PY=${PYTHON:-python3}
passed=0
failed=0

# run EXPECTED_STATUS ARGS...: runs flx, keeping stdout and stderr in $W/out and $W/err.
run() {
    want=$1
    shift
    # shellcheck disable=SC2086 # $FLX may be a command with arguments (valgrind ...)
    $FLX "$@" > "$W/out" 2> "$W/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        problem "flx $* exited with $got, expected $want"
        sed 's/^/        /' "$W/out" "$W/err"
        return 1
    fi
    return 0
}
problem() { echo "    $*"; bad=1; }
start() { name=$1; bad=0; }
finish() {
    if [ "$bad" -eq 0 ]; then echo "ok   $name"; passed=$((passed + 1)); else echo "FAIL $name"; failed=$((failed + 1)); fi
}
has() { grep -q -- "$2" "$W/$1" || problem "$1 does not contain '$2'"; }
hasnt() { if grep -q -- "$2" "$W/$1"; then problem "$1 contains '$2'"; fi; }
magic() { # magic FILE: the format its first bytes announce
    h=$(od -An -tx1 -N12 "$1" 2>/dev/null | tr -d ' \n')
    case $h in
        52494646????????57454250) echo webp ;;
        ????????667479706176696?) echo avif ;;
        ffd8ff*) echo jpg ;;
        89504e470d0a1a0a*) echo png ;;
        *) echo "unknown" ;;
    esac
}

export FLUXIMAGE_API_KEY=$FLX_TEST_KEY
export FLUXIMAGE_BASE_URL=$FLX_TEST_BASE_URL
"$PY" "$ROOT/scripts/gen_images.py" "$W/in" > /dev/null || { echo "cannot generate images"; echo "0 passed, 1 failed"; exit 1; }

start help
run 0 --help && has out "Usage:" && has out "FLUXIMAGE_API_KEY" && has out "Exit status"
run 0 compress --help && has out "--max-width"
finish

start usage_errors
run 2 && has err "Usage:"
run 2 bogus && has err "unknown command"
run 2 compress "$W/in" && has err "-o OUTDIR"
run 2 compress -o "$W/o" && has err "FILE or DIR"
run 2 compress --quality 30 "$W/in" -o "$W/o" && has err "quality"
run 2 compress --quality abc "$W/in" -o "$W/o"
run 2 compress --format gif "$W/in" -o "$W/o" && has err "webp, avif, jpg or png"
run 2 compress --max-width 70000 "$W/in" -o "$W/o"
run 2 compress --bogus "$W/in" -o "$W/o" && has err "unknown option"
[ ! -e "$W/o" ] || problem "a usage error created the output folder"
finish

start missing_and_bad_key
unset FLUXIMAGE_API_KEY
run 2 usage && has err "FLUXIMAGE_API_KEY"
run 2 compress "$W/in" -o "$W/nokey" && has err "FLUXIMAGE_API_KEY"
[ ! -e "$W/nokey" ] || problem "the output folder was created without a key"
export FLUXIMAGE_API_KEY=flx_live_2013767e3acf3d24ae00e76a837e420c6e23a06 # one character short
run 2 usage && has err "key"
hasnt err "2013767e3acf3d24ae00e76a837e420c6e23a06"
export FLUXIMAGE_API_KEY=flx_live_0123456789abcdef0123456789abcdef01234567 # unknown to the server
run 1 compress "$W/in" -o "$W/o401"
has err "401" && has err "FLUXIMAGE_API_KEY" && hasnt err "0123456789abcdef0123456789abcdef01234567"
hasnt out "0123456789abcdef0123456789abcdef01234567"
export FLUXIMAGE_API_KEY=$FLX_TEST_KEY
finish

start compress_folder_all_formats
for fmt in webp avif jpg png; do
    run 0 compress --format "$fmt" "$W/in" -o "$W/out-$fmt" || continue
    has out "5 of 5 images optimized, 0 failed"
    has out "^total"
    has out "photo-landscape.png"
    for f in "$W"/in/*.png; do
        r=$W/out-$fmt/$(basename "$f" .png).$fmt
        [ "$(magic "$r")" = "$fmt" ] || problem "$r is $(magic "$r"), not $fmt"
    done
    n=$(find "$W/out-$fmt" -type f | wc -l)
    [ "$n" -eq 5 ] || problem "$n files in out-$fmt, expected exactly the 5 results"
done
hasnt out "$FLX_TEST_KEY"
hasnt err "$FLX_TEST_KEY"
finish

start quality_and_max_size
run 0 compress -f jpg -q 40 "$W/in/photo-landscape.png" -o "$W/q40" &&
    run 0 compress -f jpg -q 100 "$W/in/photo-landscape.png" -o "$W/q100" &&
    { [ "$(wc -c < "$W/q40/photo-landscape.jpg")" -lt "$(wc -c < "$W/q100/photo-landscape.jpg")" ] ||
        problem "quality 40 is not smaller than quality 100"; }
if run 0 compress --format=png --max-width=120 --max-height=200 "$W/in/photo-landscape.png" -o "$W/small"; then
    dims=$(od -An -tu1 -j16 -N8 "$W/small/photo-landscape.png" | awk '{print $1*16777216+$2*65536+$3*256+$4 "x" $5*16777216+$6*65536+$7*256+$8}')
    [ "$dims" = "120x80" ] || problem "480x320 fitted into 120x200 gave $dims, expected 120x80"
fi
finish

start failures_reported
printf 'not an image' > "$W/broken.png"
cp "$W/in/photo-wide.png" "$W/good.png"
run 1 compress "$W/broken.png" "$W/good.png" "$W/nothere.png" -o "$W/mixed"
has out "1 of 3 images optimized, 2 failed"
has err "FAILED $W/broken.png"
has err "decode"
has err "FAILED $W/nothere.png"
[ "$(magic "$W/mixed/good.webp")" = webp ] || problem "the good image was not saved"
[ ! -e "$W/mixed/broken.webp" ] || problem "a result was saved for the broken image"
finish

start nothing_sendable
: > "$W/empty.png"
run 1 compress "$W/empty.png" "$W/nothere.png" -o "$W/none"
has err "nothing was sent"
has err "FAILED $W/empty.png"
has err "FAILED $W/nothere.png"
finish

start same_result_name
cp "$W/in/photo-wide.png" "$W/a.png"
cp "$W/in/photo-portrait.png" "$W/a.jpg"
run 0 compress "$W/a.png" "$W/a.jpg" -o "$W/clash"
[ -s "$W/clash/a.webp" ] && [ -s "$W/clash/a-2.webp" ] || problem "a.png and a.jpg did not give a.webp and a-2.webp"
finish

start usage_command
run 0 usage && has out "agency" && has out "can compress *yes"
run 0 usage --base-url "$FLX_TEST_BASE_URL"
run 2 usage --base-url http://192.0.2.1 && has err "https"
finish

# ctl METHOD PATH [JSON]: a request to the emulator's control API; prints the body.
ctl() {
    "$PY" -c 'import sys, urllib.request as u
r = u.Request(sys.argv[1] + sys.argv[3], data=sys.argv[4].encode() if len(sys.argv) > 4 else None, method=sys.argv[2])
print(u.urlopen(r, timeout=10).read().decode())' "$FLX_TEST_BASE_URL" "$@"
}
compress_requests() {
    ctl GET /__control/stats | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["requests"]["compress"])'
}

start interrupt
before=$(compress_requests)
ctl POST /__control/fault '{"mode":"stall","path":"compress","count":1,"delay_ms":10000}' > /dev/null
# shellcheck disable=SC2086
$FLX compress "$W/in" -o "$W/int" > "$W/out" 2> "$W/err" &
pid=$!
i=0
while [ "$i" -lt 300 ] && [ "$(compress_requests)" -le "$before" ]; do sleep 0.1; i=$((i + 1)); done
[ "$i" -lt 300 ] || problem "the compress request never reached the emulator"
t0=$(date +%s)
kill -INT "$pid"
wait "$pid"
got=$?
t1=$(date +%s)
[ "$got" -eq 130 ] || problem "after Ctrl-C flx exited with $got, expected 130"
has err "interrupted"
[ $((t1 - t0)) -le 4 ] || problem "flx took $((t1 - t0)) s to stop after Ctrl-C (the server stalls 10 s)"
finish

start tls_with_ca_file
# A second emulator, over HTTPS with its own CA: refused without --ca-file, fine with it.
EMULATOR=${FLX_EMULATOR:-$ROOT/target/release/fluximage-emulator}
mkdir -p "$W/tls"
"$EMULATOR" --listen 127.0.0.1:0 --tls --tls-dir "$W/tls" > "$W/tls/emulator.out" 2>&1 &
tls_pid=$!
i=0
while [ "$i" -lt 100 ] && ! grep -q '^ca file ' "$W/tls/emulator.out"; do sleep 0.1; i=$((i + 1)); done
tls_base=$(sed -n '1s/^listening on //p' "$W/tls/emulator.out")
tls_ca=$(sed -n 's/^ca file //p' "$W/tls/emulator.out")
if [ -z "$tls_base" ] || [ -z "$tls_ca" ]; then
    problem "the TLS emulator did not start: $(cat "$W/tls/emulator.out")"
else
    case $tls_base in https://*) ;; *) problem "the TLS emulator listens on $tls_base" ;; esac
    run 1 usage --base-url "$tls_base" && has err "TLS"
    run 0 usage --base-url "$tls_base" --ca-file "$tls_ca" && has out "agency"
    run 0 compress --base-url "$tls_base" --ca-file "$tls_ca" "$W/in/photo-wide.png" -o "$W/tls-out" &&
        { [ "$(magic "$W/tls-out/photo-wide.webp")" = webp ] || problem "no result over TLS"; }
    run 2 usage --base-url "$tls_base" --ca-file "$W/tls/none.pem" && has err "ca-file"
fi
kill -TERM "$tls_pid" 2>/dev/null
wait "$tls_pid" 2>/dev/null
finish

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
