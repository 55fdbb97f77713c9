#!/bin/sh
# Installs the Krita plug-in, self-contained: the plug-in, its .desktop and action files, and
# (in the plug-in's _vendor folder) the fluximage Python package with libfluximage beside it.
#
#   plugins/krita/install.sh PYKRITA_DIR ACTIONS_DIR LIBFLUXIMAGE_SO
#
# e.g. ~/.local/share/krita/pykrita ~/.local/share/krita/actions target/release/libfluximage.so
# (what `make krita-plugin-install` runs). Then enable "Fluximage Export" in Krita's Python
# Plugin Manager and restart Krita.
set -eu
[ $# -eq 3 ] || { echo "usage: $0 PYKRITA_DIR ACTIONS_DIR LIBFLUXIMAGE_SO" >&2; exit 2; }
pykrita=$1
actions=$2
lib=$3
here=$(cd "$(dirname "$0")" && pwd)
package=$here/../../bindings/python/src/fluximage
[ -f "$lib" ] || { echo "$lib not found: build the library first (make lib)" >&2; exit 1; }
[ -f "$package/__init__.py" ] || { echo "$package not found" >&2; exit 1; }

mkdir -p "$pykrita" "$actions"
rm -rf "$pykrita/fluximage_export"
mkdir -p "$pykrita/fluximage_export/_vendor/fluximage"
for f in "$here"/fluximage_export/*.py "$here"/fluximage_export/Manual.html; do
    cp "$f" "$pykrita/fluximage_export/"
done
cp "$here/fluximage_export.desktop" "$pykrita/"
cp "$here/fluximage_export.action" "$actions/"
for f in "$package"/*.py "$package"/py.typed; do
    cp "$f" "$pykrita/fluximage_export/_vendor/fluximage/"
done
# The package looks for the library beside itself first (a "packaged copy").
cp "$lib" "$pykrita/fluximage_export/_vendor/fluximage/libfluximage.so"
chmod 0755 "$pykrita/fluximage_export/_vendor/fluximage/libfluximage.so"
echo "installed the Krita plug-in into $pykrita (action file in $actions)"
