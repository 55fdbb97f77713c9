#!/bin/sh
# Runs a C++ test program (or the examples/cpp program) against a fresh emulator.
#
#   tests/cpp/run-tests.sh [--label NAME] [--no-summary] COMMAND [ARGS...]
#
# Starts target/release/fluximage-emulator --control on a free loopback port with two extra
# accounts (a Pro key that is rolled, a Starter key whose compressions are used up), exports
#   FLX_TEST_BASE_URL FLX_TEST_KEY FLX_TEST_FREE_KEY FLX_TEST_ROLLED_KEY FLX_TEST_SPENT_KEY
#   FLX_TEST_DIR (a scratch folder, removed after)
# runs COMMAND, stops the emulator. Exits with COMMAND's status, or 1 when the emulator cannot
# start or (unless --no-summary) the output does not end with "N passed, 0 failed".
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EMULATOR=${FLX_EMULATOR:-$ROOT/target/release/fluximage-emulator}
label=tests
summary=1
while [ $# -gt 0 ]; do
    case $1 in
        --label) label=$2; shift 2 ;;
        --no-summary) summary=0; shift ;;
        --) shift; break ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--label NAME] [--no-summary] COMMAND [ARGS...]" >&2; exit 2; }
[ -x "$EMULATOR" ] || { echo "$EMULATOR not found: run make emulator" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/flx-cpp-test.XXXXXX")
. "$ROOT"/scripts/emulator.sh
cleanup() {
    emulator_stop
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Both keys belong to real accounts, so their 401 means "rolled" and their 402 "used up".
rolled=flx_live_c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff
spent=flx_live_5be275be275be275be275be275be275be275be27
cat > "$work/keys.json" <<EOF
[{"key":"$rolled","plan":"pro"},
 {"key":"$spent","plan":"starter","compressor_used":200}]
EOF

emulator_start "$work" --control --keys "$work/keys.json" --rolled "$rolled"

mkdir "$work/scratch"
export FLX_TEST_BASE_URL="$base"
export FLX_TEST_KEY=flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3       # agency
export FLX_TEST_FREE_KEY=flx_live_2d66ab250124b9f72713a4575147eca36d2adb18  # free
export FLX_TEST_ROLLED_KEY="$rolled"
export FLX_TEST_SPENT_KEY="$spent"
export FLX_TEST_DIR="$work/scratch"
# The tests choose their keys and URLs themselves; keep the caller's settings out.
unset FLUXIMAGE_API_KEY FLUXIMAGE_BASE_URL HTTPS_PROXY https_proxy ALL_PROXY all_proxy HTTP_PROXY http_proxy

echo "== C++ $label: $* (emulator $base)"
status=0
"$@" > "$work/output.txt" 2>&1 || status=$?
cat "$work/output.txt"
if [ $status -eq 0 ] && [ $summary -eq 1 ] &&
    ! grep -E '^[0-9]+ passed, 0 failed$' "$work/output.txt" | tail -n 1 | grep -q .; then
    echo "C++ $label: no \"N passed, 0 failed\" line in the output" >&2
    status=1
fi
if [ $status -ne 0 ]; then
    echo "C++ $label FAILED (exit status $status); emulator log:" >&2
    tail -n 20 "$work/emulator.err" >&2 || true
fi
exit $status
