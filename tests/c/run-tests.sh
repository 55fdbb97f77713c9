#!/bin/sh
# Runs a C test program against a fresh emulator.
#
#   tests/c/run-tests.sh [--small] [--label NAME] COMMAND [ARGS...]
#
# Starts target/release/fluximage-emulator --control on a free loopback port (with one extra
# Pro account whose key is rolled), exports what the tests read (see tests/c/test_api.c):
#   FLX_TEST_BASE_URL FLX_TEST_KEY FLX_TEST_FREE_KEY FLX_TEST_ROLLED_KEY FLX_TEST_DIR
#   FLX_TEST_SMALL (with --small: smaller images, for valgrind)
# runs COMMAND (e.g. `valgrind ... build/c-test/test_api`), stops the emulator and removes the
# scratch folder. Exits with COMMAND's status, or 1 when the emulator cannot start or the
# output does not end with "N passed, 0 failed".
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EMULATOR=${FLX_EMULATOR:-$ROOT/target/release/fluximage-emulator}
small=0
label=tests
while [ $# -gt 0 ]; do
    case $1 in
        --small) small=1; shift ;;
        --label) label=$2; shift 2 ;;
        --) shift; break ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--small] [--label NAME] COMMAND [ARGS...]" >&2; exit 2; }
[ -x "$EMULATOR" ] || { echo "$EMULATOR not found: run make emulator" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/flx-c-test.XXXXXX")
. "$ROOT"/scripts/emulator.sh
cleanup() {
    emulator_stop
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The rolled key belongs to a real account, so a 401 here means "rolled", not "unknown".
rolled=flx_live_c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff
cat > "$work/keys.json" <<EOF
[{"key":"$rolled","plan":"pro","compressor_used":0,"ia_credits_used":0,"ia_topup_credits":0}]
EOF

emulator_start "$work" --control --keys "$work/keys.json" --rolled "$rolled"

mkdir "$work/scratch"
export FLX_TEST_BASE_URL="$base"
export FLX_TEST_KEY=flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3       # agency
export FLX_TEST_FREE_KEY=flx_live_2d66ab250124b9f72713a4575147eca36d2adb18  # free
export FLX_TEST_ROLLED_KEY="$rolled"
export FLX_TEST_DIR="$work/scratch"
export FLX_TEST_SMALL=$small
# The tests choose their keys and URLs themselves; keep the caller's settings out.
unset FLUXIMAGE_API_KEY FLUXIMAGE_BASE_URL HTTPS_PROXY https_proxy ALL_PROXY all_proxy HTTP_PROXY http_proxy

echo "== C $label: $* (emulator $base)"
status=0
"$@" > "$work/output.txt" 2>&1 || status=$?
cat "$work/output.txt"
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$work/output.txt" | tail -n 1 || true)
if [ $status -eq 0 ] && ! printf '%s\n' "$summary" | grep -q ', 0 failed$'; then
    echo "C $label: no \"N passed, 0 failed\" line in the output" >&2
    status=1
fi
if [ $status -ne 0 ]; then
    echo "C $label FAILED (exit status $status); emulator log:" >&2
    tail -n 20 "$work/emulator.err" >&2 || true
fi
exit $status
