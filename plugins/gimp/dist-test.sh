#!/bin/sh
# The GIMP plug-in as a user downloads it: the archive of `make gimp-plugin-dist`, unpacked
# into the plug-in folder of a fresh profile, used inside real GIMP 2.10 with the source tree
# out of reach.
#
#   plugins/gimp/dist-test.sh ARCHIVE EMULATOR_BINARY          (make gimp-test runs it)
#
#   archive    holds exactly fluximage-export/{fluximage-export,README.txt}; the binary needs
#              no libfluximage (no NEEDED entry, no RPATH/RUNPATH), resolves every library
#              without LD_LIBRARY_PATH, and carries no test hook
#   installed  installed by the install block of plugins/README.md (run as written, in a
#              folder holding the archive, with a fresh HOME); GIMP runs in a private mount
#              namespace where an empty folder hides the whole source tree (when unshare is
#              not permitted: with LD_LIBRARY_PATH unset, said in the output); the procedure
#              exports WebP that GIMP decodes again at the right size
#   ai         plug-in-fluximage-export-ai with an Agency key: alt text returned and shown,
#              the file named after the SEO name beside the chosen one, an existing file there
#              not replaced; with a free key: a 403 message saying what to do, nothing written
#   batch exit the README's warning: `gimp -i -b` exits 0 although the batch command failed,
#              and GIMP's output says so; the README's batch block (key filled in) writes
#              out.webp from in.png, and without in.png exits 1 saying the export failed
#
# Ends with "N passed, M failed" and a non-zero status on any failure. KEEP=1 keeps the work
# folder (printed) for inspection.
set -u

ARCHIVE=${1:?usage: dist-test.sh ARCHIVE EMULATOR_BINARY}
EMULATOR=${2:?usage: dist-test.sh ARCHIVE EMULATOR_BINARY}
GIMP=${GIMP:-gimp}
AGENCY_KEY=flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3
FREE_KEY=flx_live_2d66ab250124b9f72713a4575147eca36d2adb18
tree=$(cd "$(dirname "$0")/../.." && pwd)

[ -f "$ARCHIVE" ] || { echo "gimp-dist-test: $ARCHIVE is missing (make gimp-plugin-dist)"; exit 1; }
[ -x "$EMULATOR" ] || { echo "gimp-dist-test: $EMULATOR is missing or not executable"; exit 1; }
command -v "$GIMP" > /dev/null || { echo "gimp-dist-test: $GIMP not found"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/flx-gimp-dist-test.XXXXXX")
case $work in "$tree"/*) echo "gimp-dist-test: TMPDIR must be outside the source tree"; exit 1 ;; esac
. "$tree/scripts/emulator.sh"
cleanup() {
    emulator_stop
    if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

out=$work/out
mkdir -p "$out" "$work/tmp" "$work/batch-ok" "$work/batch-failed"
export TMPDIR=$work/tmp
# Nothing of the build tree on a search path (make exports LD_LIBRARY_PATH into it).
unset LD_LIBRARY_PATH FLUXIMAGE_LIB FLUXIMAGE_API_KEY

# The archive is the only thing taken from the tree once the tests start.
cp "$ARCHIVE" "$work/plugin.tar.gz"
cp "$EMULATOR" "$work/fluximage-emulator"
EMULATOR=$work/fluximage-emulator
emulator_start "$work"
export FLUXIMAGE_BASE_URL=$base

. "$tree/plugins/gimp/testlib.sh"

# readme_block MARKER: the sh block after "<!-- MARKER:" in plugins/README.md.
readme_block() {
    awk -v m="<!-- $1:" 'index($0, m) == 1 { on = 1; next }
        on && /^```sh/ { inside = 1; next }
        inside && /^```/ { exit }
        inside { print }' "$tree/plugins/README.md"
}
readme_block gimp-install > "$work/gimp-install.sh"
readme_block gimp-batch > "$work/gimp-batch.sh"
for b in gimp-install gimp-batch; do
    [ -s "$work/$b.sh" ] || { echo "gimp-dist-test: no $b block in plugins/README.md"; exit 1; }
done
mkdir -p "$work/download"
cp "$work/plugin.tar.gz" "$work/download/$(basename "$ARCHIVE")"
install_plugin() { # the README's install block, as a user runs it (HOME is the new profile's)
    (cd "$work/download" && sh -e "$work/gimp-install.sh") ||
        problem "the README's install block failed"
}

# GIMP runs with the source tree hidden under an empty folder, in a mount namespace of its
# own (root, or unprivileged user namespaces, needed); other processes still see the tree.
cat > "$work/hide-tree.sh" <<EOF
#!/bin/sh
mount -t tmpfs -o size=1m,mode=0755 flx-hidden "$tree" || exit 97
[ -z "\$(ls -A "$tree")" ] || exit 98
exec "\$@"
EOF
chmod +x "$work/hide-tree.sh"
if unshare -m "$work/hide-tree.sh" true 2> /dev/null; then
    hide="unshare -m $work/hide-tree.sh"
elif unshare -m -r "$work/hide-tree.sh" true 2> /dev/null; then
    hide="unshare -m -r $work/hide-tree.sh"
else
    hide=
    echo "NOTE: cannot hide the source tree (unshare not permitted): it stays readable, but no search path leads into it"
fi

echo "GIMP plug-in archive tests ($(basename "$ARCHIVE"), emulator on $base)"

# ---- 1. the archive ---------------------------------------------------------------------
start archive
log=$work/archive.log
tar -tzvf "$work/plugin.tar.gz" > "$log" 2>&1 || problem "tar cannot list the archive"
listing=$(tar -tzf "$work/plugin.tar.gz" | sort | tr '\n' ' ')
[ "$listing" = "fluximage-export/ fluximage-export/README.txt fluximage-export/fluximage-export " ] ||
    problem "unexpected contents: $listing"
mkdir -p "$work/unpacked"
tar -xzf "$work/plugin.tar.gz" -C "$work/unpacked"
bin=$work/unpacked/fluximage-export/fluximage-export
[ -x "$bin" ] || problem "the plug-in is not executable after unpacking"
readelf -d "$bin" > "$work/readelf.txt" 2>&1 || problem "readelf failed"
if grep -qi 'fluximage' "$work/readelf.txt"; then problem "the plug-in depends on libfluximage: $(grep -i fluximage "$work/readelf.txt")"; fi
if grep -q 'RPATH\|RUNPATH' "$work/readelf.txt"; then problem "the plug-in has a run-time path: $(grep 'RPATH\|RUNPATH' "$work/readelf.txt")"; fi
ldd "$bin" > "$work/ldd.txt" 2>&1
if grep -q 'not found' "$work/ldd.txt"; then problem "unresolved libraries: $(grep 'not found' "$work/ldd.txt")"; fi
if grep -q "$tree" "$work/ldd.txt"; then problem "a library resolves into the source tree"; fi
if grep -aq 'FLUXIMAGE_GIMP_TEST' "$bin"; then problem "the distributed plug-in contains the test hooks"; fi
grep -q 'fluximage-gimp-.*tar.gz -C ~/.config/GIMP/2.10/plug-ins/' "$work/unpacked/fluximage-export/README.txt" ||
    problem "the README does not say how to install"
finish

# ---- 2. installed from the archive, the tree out of reach --------------------------------
start installed
export FLUXIMAGE_API_KEY=$AGENCY_KEY
# shellcheck disable=SC2086 # $hide is a command with its arguments, or nothing
run_gimp installed "
(define img (make-test-image 320 240))
(say \"webp \" (flx-export img \"$out/photo.webp\" \"webp\" 80 0 0))
(say \"decode \" (decode \"$out/photo.webp\"))
(say \"tree \" (if (> (car (file-glob \"$tree/Cargo.toml\" 1)) 0) \"visible\" \"hidden\"))
(plain-png img \"$work/batch-ok/in.png\")
" $hide
gimp_ok
expect webp "ok *"
expect decode "320 240"
[ "$(magic "$out/photo.webp")" = webp ] || problem "photo.webp is $(magic "$out/photo.webp"), not WebP"
has "Exported photo.webp with Fluximage: "
[ -z "$hide" ] || expect tree hidden
[ -f "$HOME/.config/GIMP/2.10/plug-ins/fluximage-export/fluximage-export" ] ||
    problem "the archive did not unpack into plug-ins/fluximage-export/"
finish

# ---- 3. the AI options -------------------------------------------------------------------
start ai
export FLUXIMAGE_API_KEY=$AGENCY_KEY
mkdir -p "$out/ai"
run_gimp ai "
(define img (make-test-image 320 240))
(say \"alt \" (flx-export-ai img \"$out/ai/chosen.webp\" \"webp\" 1 0))
(say \"seo1 \" (flx-export-ai img \"$out/ai/chosen.webp\" \"webp\" 1 1))
(say \"seo2 \" (flx-export-ai img \"$out/ai/chosen.webp\" \"webp\" 0 1))
" $hide
gimp_ok
expect alt "ok * $out/ai/chosen.webp|A 320×240 image, mostly *"
has "Alt text: A 320×240 image"
seo1=$(result seo1 | sed 's/^ok [0-9]* [0-9]* //; s/|.*//')
seo2=$(result seo2 | sed 's/^ok [0-9]* [0-9]* //; s/|.*//')
case $seo1 in
    "$out"/ai/*-image-320x240.webp) ;;
    *) problem "the SEO-named file is '$seo1'" ;;
esac
[ "$seo2" = "${seo1%.webp}-2.webp" ] || problem "the second SEO-named file is '$seo2', not ${seo1%.webp}-2.webp"
for f in "$out/ai/chosen.webp" "$seo1" "$seo2"; do
    [ "$(magic "$f")" = webp ] || problem "$f is not a WebP file"
done
finish

start ai_free_plan
export FLUXIMAGE_API_KEY=$FREE_KEY
run_gimp aifree "
(define img (make-test-image 64 48))
(say \"free \" (flx-export-ai img \"$out/free.webp\" \"webp\" 1 0))
" $hide
gimp_ok
expect free error
has "403"
has "paid plan"
has "Untick the AI options, or upgrade"
absent "$out/free.webp"
hasnt "${FREE_KEY#flx_live_}"
finish

# ---- 4. gimp -i -b exits 0 when the batch command failed (the README's warning) -----------
start batch_exit_status
export FLUXIMAGE_API_KEY=$AGENCY_KEY
new_profile batchexit
log=$work/batchexit.log
# shellcheck disable=SC2086
timeout 300 $hide "$GIMP" -i -d -f -b "
(let* ((img (car (gimp-image-new 64 48 RGB)))
       (layer (car (gimp-layer-new img 64 48 RGB-IMAGE \"bg\" 100 LAYER-MODE-NORMAL))))
  (gimp-image-insert-layer img layer 0 0)
  (plug-in-fluximage-export RUN-NONINTERACTIVE img layer \"$out/bad.gif\" \"gif\" 82 0 0))" \
    -b '(gimp-quit 0)' > "$log" 2>&1
gimp_status=$?
[ "$gimp_status" -eq 0 ] || problem "expected GIMP's exit status 0 (as the README warns), got $gimp_status"
has "batch command experienced an execution error"
has 'unknown format "gif"'
absent "$out/bad.gif"
finish

start readme_batch_block
sed "s/flx_live_\.\.\./$AGENCY_KEY/" "$work/gimp-batch.sh" > "$work/gimp-batch-keyed.sh"
new_profile readmebatch
log=$work/readme-batch.log
# shellcheck disable=SC2086
(cd "$work/batch-ok" && timeout 300 $hide sh "$work/gimp-batch-keyed.sh") > "$log" 2>&1
ok_status=$?
# shellcheck disable=SC2086
(cd "$work/batch-failed" && timeout 300 $hide sh "$work/gimp-batch-keyed.sh") >> "$log" 2>&1
failed_status=$?
[ "$ok_status" -eq 0 ] || problem "the README's batch block failed with in.png (status $ok_status)"
[ "$(magic "$work/batch-ok/out.webp")" = webp ] || problem "the README's batch block wrote no WebP"
[ "$failed_status" -eq 1 ] || problem "without in.png the README's batch block exited $failed_status, not 1"
has "the export failed:"
absent "$work/batch-failed/out.webp"
hasnt "${AGENCY_KEY#flx_live_}"
finish

report
