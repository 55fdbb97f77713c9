#!/bin/sh
# Runs tests/c/leak_loop (20,000 C API calls, RSS bound) against a pass-through emulator.
#   EMULATOR=... LEAK_LOOP=... sh tests/c/leak-test.sh
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/flx-leak.XXXXXX")
. "$ROOT/scripts/emulator.sh"
trap 'emulator_stop; rm -rf "$work"' EXIT
emulator_start "$work" --encode none
FLUXIMAGE_BASE_URL=$base timeout 300 "$LEAK_LOOP" 20000
