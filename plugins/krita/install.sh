#!/bin/sh
# Installs the Krita plug-in from its zip (make krita-plugin-zip) the way Krita's own Tools >
# Scripts > Import Python Plugin from File… does: the .desktop file and the plug-in's folder
# into RESOURCES/pykrita/, the .action file into RESOURCES/actions/ (an existing copy of the
# plug-in is replaced). Then enable "Fluximage Export" in Krita's Python Plugin Manager and
# restart Krita.
#
#   plugins/krita/install.sh PLUGIN_ZIP RESOURCES_DIR
#
# e.g. build/dist/fluximage-krita-0.1.0.zip ~/.local/share/krita (make krita-plugin-install).
set -eu
[ $# -eq 2 ] || { echo "usage: $0 PLUGIN_ZIP RESOURCES_DIR" >&2; exit 2; }
[ -f "$1" ] || { echo "$1 not found: run make krita-plugin-zip" >&2; exit 1; }
python3 - "$1" "$2" <<'PY'
import os, shutil, sys, tempfile, zipfile
zip_path, resources = sys.argv[1], sys.argv[2]
name = "fluximage_export"
pykrita, actions = os.path.join(resources, "pykrita"), os.path.join(resources, "actions")
os.makedirs(pykrita, exist_ok=True)
os.makedirs(actions, exist_ok=True)
with zipfile.ZipFile(zip_path) as z, tempfile.TemporaryDirectory() as tmp:
    z.extractall(tmp)
    shutil.rmtree(os.path.join(pykrita, name), ignore_errors=True)
    shutil.copytree(os.path.join(tmp, name), os.path.join(pykrita, name))
    shutil.copyfile(os.path.join(tmp, name + ".desktop"), os.path.join(pykrita, name + ".desktop"))
    shutil.copyfile(os.path.join(tmp, name + ".action"), os.path.join(actions, name + ".action"))
print(f"installed the Krita plug-in into {pykrita} (action file in {actions})")
PY
