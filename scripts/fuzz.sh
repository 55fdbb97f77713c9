#!/usr/bin/env bash
# Runs the coverage-guided fuzz targets of fuzz/ under AFL++ (see mk/fuzz.mk).
#
#   scripts/fuzz.sh SECONDS [TARGET...]   each target for SECONDS; fails on any crash or hang
#   scripts/fuzz.sh --planted [TARGET...] the planted-bug build: each target must find and
#                                         report the planted crash (within FUZZ_PLANTED_LIMIT s)
#
# Prints, per target, executions per second, executions, paths found (corpus entries) and
# crashes/hangs. Outputs go to build/fuzz/<mode>/<target>/; crashing inputs stay there for a
# regression test. Needs cargo-afl (`cargo install cargo-afl`, which also builds AFL++).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ALL_TARGETS=(compress_answer usage_answer headers multipart_roundtrip emulator_multipart c_abi sync_manifest)

mode=run
if [ "${1:-}" = "--planted" ]; then
    mode=planted
    shift
    seconds=${FUZZ_PLANTED_LIMIT:-120}
else
    seconds=${1:?usage: fuzz.sh SECONDS|--planted [TARGET...]}
    shift
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")

command -v cargo-afl > /dev/null || { echo "fuzz: cargo-afl is missing: cargo install cargo-afl" >&2; exit 1; }

# Instrumented builds get their own target directory: cargo-afl changes RUSTFLAGS, which would
# otherwise rebuild (and replace) the normal release artifacts. The planted feature only
# touches the fuzz crate, so switching modes rebuilds that crate alone.
tdir=$ROOT/target/fuzz
features=()
[ $mode = planted ] && features=(--features planted-bug)
echo "== fuzz: building the targets ($mode)"
# Without LTO: the release profile's LTO leaves most of the dependencies' code (serde_json, the
# core's parsers) without coverage guards, which blinds the fuzzer to them.
CARGO_PROFILE_RELEASE_LTO=false CARGO_TARGET_DIR=$tdir cargo afl build --release --locked -p fluximage-fuzz "${features[@]}" --quiet

# AFL++ settings for a shared, unattended machine: no UI, no CPU pinning, no core_pattern
# or CPU-governor demands, and no waiting for a terminal.
export AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_QUIET=1 AFL_NO_CRASH_README=1 AFL_SHUFFLE_QUEUE=0
[ $mode = planted ] && export AFL_BENCH_UNTIL_CRASH=1

stat() { sed -n "s/^$1 *: *//p" "$2"; }

failed=0
printf '\n%-22s %10s %12s %7s %8s %6s\n' target "execs/s" execs paths crashes hangs
for t in "${targets[@]}"; do
    out=$ROOT/build/fuzz/$mode/$t
    rm -rf "$out"
    mkdir -p "$out"
    # -V: stop after SECONDS; -t: an input taking over 1 s is a hang.
    # The planted run starts from one input a byte away from the bug (alone, so that a slow
    # target's queue does not dilute it): it proves that the harness reaches its code and
    # reports a crash, in seconds.
    seeds=fuzz/corpus/$t
    [ $mode = planted ] && seeds=fuzz/corpus-planted
    timeout $((seconds + 120)) cargo afl fuzz -V "$seconds" -t 1000 -x fuzz/dict/fluximage.dict \
        -i "$seeds" -o "$out/afl" "$tdir/release/$t" > "$out/afl.log" 2>&1 || true
    stats=$out/afl/default/fuzzer_stats
    if [ ! -f "$stats" ]; then
        echo "fuzz: $t did not start; its log:" >&2
        tail -20 "$out/afl.log" >&2
        failed=1
        continue
    fi
    crashes=$(stat saved_crashes "$stats")
    hangs=$(stat saved_hangs "$stats")
    printf '%-22s %10s %12s %7s %8s %6s\n' "$t" "$(stat execs_per_sec "$stats")" "$(stat execs_done "$stats")" \
        "$(stat corpus_count "$stats")" "$crashes" "$hangs"
    if [ $mode = planted ]; then
        [ "$crashes" -gt 0 ] || { echo "fuzz: $t did not find the planted bug in $seconds s" >&2; failed=1; }
    elif [ "$crashes" -gt 0 ] || [ "$hangs" -gt 0 ]; then
        echo "fuzz: $t found $crashes crash(es), $hangs hang(s): inputs in $out/afl/default/{crashes,hangs}/" >&2
        failed=1
    fi
done
exit $failed
