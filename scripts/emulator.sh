# Starting and stopping the emulator from shell scripts (demo, C tests, plug-in tests).
# Source it after setting EMULATOR to the fluximage-emulator binary:
#
#   . "$ROOT/scripts/emulator.sh"
#   emulator_start DIR [FLAG...]   starts "$EMULATOR --listen 127.0.0.1:0 FLAG..." with its
#                                  output in DIR/emulator.out and DIR/emulator.err, waits up to
#                                  10 s for its "listening on URL" line, and sets emu_pid and
#                                  base (the API origin); exits 1 if it does not start
#   emulator_stop                  stops it (SIGTERM) and waits for it; harmless when stopped

emu_pid=
base=

emulator_start() {
    _emu_dir=$1
    shift
    "$EMULATOR" --listen 127.0.0.1:0 "$@" > "$_emu_dir/emulator.out" 2> "$_emu_dir/emulator.err" &
    emu_pid=$!
    base=
    _emu_i=0
    while [ $_emu_i -lt 100 ]; do
        base=$(sed -n '1s/^listening on //p' "$_emu_dir/emulator.out" 2> /dev/null || true)
        [ -n "$base" ] && return 0
        kill -0 "$emu_pid" 2> /dev/null || break
        sleep 0.1
        _emu_i=$((_emu_i + 1))
    done
    echo "the emulator did not start:" >&2
    cat "$_emu_dir/emulator.err" >&2
    exit 1
}

emulator_stop() {
    if [ -n "$emu_pid" ]; then
        kill -TERM "$emu_pid" 2> /dev/null || true
        wait "$emu_pid" 2> /dev/null || true
        emu_pid=
    fi
}
