#!/bin/sh
# Builds examples/flxcompress as a program OUTSIDE the source tree that imports the module
# (its go.mod uses a replace directive to this folder), then runs it against a fresh emulator.
# Only pkg-config points at the library: LD_LIBRARY_PATH is removed from the environment.
#
#   EMULATOR=/path/to/fluximage-emulator [GO=go] sh scripts/external-example.sh
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
GO=${GO:-go}
EMULATOR=${EMULATOR:?set EMULATOR to the fluximage-emulator binary}
KEY=flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3 # the emulator's built-in Agency key

work=$(mktemp -d "${TMPDIR:-/tmp}/fluximage-go-example.XXXXXX")
emu_pid=
cleanup() {
	if [ -n "$emu_pid" ]; then
		kill "$emu_pid" 2>/dev/null || true
		wait "$emu_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mkdir "$work/app"
cp "$here/examples/flxcompress/main.go" "$work/app/main.go"
cat > "$work/app/go.mod" <<EOM
module example.com/flxapp

go 1.24

require github.com/fluximage/libfluximage/bindings/go v0.0.0

replace github.com/fluximage/libfluximage/bindings/go => $here
EOM

echo "external example: building in $work/app (pkg-config: $(pkg-config --modversion fluximage))"
(cd "$work/app" && env -u LD_LIBRARY_PATH GOFLAGS=-mod=mod GOPROXY=off GOWORK=off \
	timeout 600 "$GO" build -o flxcompress .)

"$EMULATOR" --listen 127.0.0.1:0 >"$work/emu.out" 2>"$work/emu.err" &
emu_pid=$!
i=0
while ! grep -q '^listening on ' "$work/emu.out" 2>/dev/null; do
	i=$((i + 1))
	if [ "$i" -gt 300 ] || ! kill -0 "$emu_pid" 2>/dev/null; then
		echo "external example: the emulator did not start" >&2
		cat "$work/emu.err" >&2
		exit 1
	fi
	sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$work/emu.out" | head -n 1)

env -u LD_LIBRARY_PATH FLUXIMAGE_API_KEY="$KEY" FLUXIMAGE_BASE_URL="$url" \
	timeout 120 "$work/app/flxcompress" -demo -format webp -max-width 160 -out "$work/out"

magic=$(od -An -c -j 8 -N 4 "$work/out/demo.webp" | tr -d ' ')
if [ "$magic" != "WEBP" ]; then
	echo "external example: $work/out/demo.webp is not a WebP file" >&2
	exit 1
fi
echo "external example: OK"
