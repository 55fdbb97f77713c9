#!/bin/sh
# The Krita plug-in, tested inside a real Krita 5 against the local emulator.
#
#   plugins/krita/test.sh EMULATOR_BINARY PLUGIN_ZIP        (make krita-test runs it)
#
# Krita runs as the whole application under a virtual display (xvfb-run) with a throw-away
# profile (HOME in a temporary folder) holding two plug-ins, both enabled in its kritarc:
# "Fluximage Export", imported from the zip of `make krita-plugin-zip` by Krita's own importer
# (the PluginImporter behind Tools > Scripts > Import Python Plugin from File…, run headless)
# and enabled the way that importer does; it uses only what the zip holds (PYTHONPATH and
# FLUXIMAGE_LIB unset, the source tree hidden from Krita in a private mount namespace when
# unshare is permitted); and a test-only driver (tests/krita_driver) that uses it the way a
# user would and writes its findings to a JSON file; see tests/krita_driver/__init__.py.
# (kritarunner, Krita's scripting runner, cannot be used: it loads no plug-ins and crashes
# when a window is asked for.)
#
# Ends with "N passed, M failed" and a non-zero status on any failure. KEEP=1 keeps the work
# folder (printed) for inspection.
set -u

EMULATOR=${1:?usage: test.sh EMULATOR_BINARY PLUGIN_ZIP}
ZIP=${2:?usage: test.sh EMULATOR_BINARY PLUGIN_ZIP}
# Krita's own importer (Debian's path; KRITA_IMPORTER names another).
IMPORTER=${KRITA_IMPORTER:-/usr/share/krita/pykrita/plugin_importer/plugin_importer.py}
KRITA=${KRITA:-krita}
PYTHON=${PYTHON:-python3}
AGENCY_KEY=flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3
here=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "$here/../.." && pwd)

for f in "$EMULATOR" "$ZIP"; do
    [ -e "$f" ] || { echo "krita-test: $f is missing"; exit 1; }
done
for c in "$KRITA" xvfb-run "$PYTHON"; do
    command -v "$c" > /dev/null || { echo "krita-test: $c not found"; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/flx-krita-test.XXXXXX")
. "$(cd "$(dirname "$0")/../.." && pwd)/scripts/emulator.sh"
cleanup() {
    emulator_stop
    if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the emulator -----------------------------------------------------------------------
emulator_start "$work" --control

# ---- a throw-away profile with both plug-ins ----------------------------------------------
export HOME=$work/home
resources=$HOME/.local/share/krita # Krita.instance().getAppDataLocation() on Linux
pykrita=$resources/pykrita
mkdir -p "$resources" "$HOME/.config"
if [ -f "$IMPORTER" ]; then
    # What Import Python Plugin from File… does, without its file dialog: i18n is Krita's
    # translation function, needed only for messages.
    PYTHONPATH=$(dirname "$IMPORTER") "$PYTHON" -c '
import builtins, sys
builtins.i18n = lambda text: text
from plugin_importer import PluginImporter
imported = PluginImporter(sys.argv[1], sys.argv[2], lambda plugin: True).import_all()
print("imported by Krita'"'"'s importer:", ", ".join(p["name"] for p in imported))
' "$ZIP" "$resources" || { echo "FAIL Krita's importer refused the zip"; exit 1; }
else
    echo "NOTE: Krita's importer ($IMPORTER) not found: the zip is extracted by install.sh"
    "$here/install.sh" "$ZIP" "$resources" > /dev/null || exit 1
fi
cp -R "$here/tests/krita_driver" "$pykrita/krita_driver"
cp "$here/tests/krita_driver.desktop" "$pykrita/"
# Enabled the way the importer's "Enable plugins now?" does (Krita's [python] settings).
cat > "$HOME/.config/kritarc" <<EOT
[python]
enable_fluximage_export=true
enable_krita_driver=true
EOT
mkdir -p "$work/out" "$work/tmp"

# Krita runs with the source tree hidden under an empty folder, in a mount namespace of its
# own; other processes still see the tree.
cat > "$work/hide-tree.sh" <<EOT
#!/bin/sh
mount -t tmpfs -o size=1m,mode=0755 flx-hidden "$tree" || exit 97
exec "\$@"
EOT
chmod +x "$work/hide-tree.sh"
hide=
if unshare -m "$work/hide-tree.sh" true 2> /dev/null; then
    hide="unshare -m $work/hide-tree.sh"
else
    echo "NOTE: cannot hide the source tree (unshare not permitted); PYTHONPATH and FLUXIMAGE_LIB are unset"
fi

# ---- Krita ------------------------------------------------------------------------------
echo "Krita plug-in tests (emulator on $base)"
results=$work/results.json
env -u PYTHONPATH -u FLUXIMAGE_LIB \
    FLUXIMAGE_API_KEY=$AGENCY_KEY FLUXIMAGE_BASE_URL=$base TMPDIR=$work/tmp \
    FLX_KRITA_OUT=$work/out FLX_KRITA_RESULTS=$results FLX_KRITA_CONTROL=$base/__control \
    FLX_KRITA_TREE=${hide:+$tree} \
    timeout "${KRITA_TIMEOUT:-600}" $hide xvfb-run -a "$KRITA" --nosplash > "$work/krita.log" 2>&1
status=$?

"$PYTHON" - "$results" "$status" "$work/krita.log" "$work/tmp" <<'EOT'
import json, os, sys
path, status, log, tmp = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
passed = failed = 0
def report(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}" + (f": {detail}" if detail else ""))
try:
    with open(path) as f:
        results = json.load(f)
except (OSError, ValueError) as e:
    results = {"done": False, "checks": []}
    report("the driver wrote its results", False, e)
for name, ok, detail in results["checks"]:
    report(name, ok, detail)
report("the driver ran to the end", results.get("done"))
report("Krita exited normally", status == 0, f"exit status {status}")
left = [n for n in os.listdir(tmp) if n.startswith("fluximage-krita-")]
report("no temporary folder left", not left, left)
if failed:
    print(f"  (Krita's output: {log})")
    with open(log, errors="replace") as f:
        for line in f.read().splitlines()[-30:]:
            print("      | " + line)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOT
