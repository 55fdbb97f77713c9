"""Builds the Krita plug-in's zip, in the layout of Krita's Tools > Scripts > Import Python
Plugin from File… (Krita's importer finds the .desktop file, the module folder of the same
name holding __init__.py, and the .action file, wherever they sit in the zip):

    fluximage_export.desktop
    fluximage_export.action
    fluximage_export/                    the plug-in (with _version.py written here)
    fluximage_export/_vendor/fluximage/  the fluximage Python package, libfluximage.so beside it
    README.txt

    python3 plugins/krita/make_zip.py OUTPUT.zip VERSION LIBFLUXIMAGE_SO   (make krita-plugin-zip)

Entries are in a fixed order with a fixed time, so the same sources give the same zip.
"""

from __future__ import annotations

import platform
import sys
import zipfile
from pathlib import Path
from typing import List, Tuple

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parents[1] / "bindings" / "python" / "src" / "fluximage"
NAME = "fluximage_export"
STAMP = (2025, 1, 1, 0, 0, 0)

README = """Export via Fluximage {version} - a Krita 5 plug-in

Exports the image you are editing through the Fluximage image-compression API as WebP, AVIF,
JPEG or PNG, optionally scaled down, with AI alt text and SEO file names on paid plans.
Everything it needs is inside this zip (the fluximage Python package and libfluximage.so,
for Linux {arch}).

INSTALL
  1. In Krita: Tools > Scripts > Import Python Plugin from File..., choose this zip, and
     answer Yes to "Enable plugins now?".
  2. Quit Krita, then start it with your API key (Fluximage dashboard: Settings > API Key):
       FLUXIMAGE_API_KEY=flx_live_... krita
     The plug-in never writes the key to a file.

USE
  File > Export via Fluximage... : choose the file, format, quality and maximum size. The
  dialog shows the credits left on your plan; the AI options are greyed out, with the reason,
  when your plan does not include them. After the export the status bar shows the saving, and
  the alt text (when asked for) is shown in a window with a Copy button.
"""


def entries(version: str, library: Path) -> List[Tuple[str, bytes, int]]:
    """(name in the zip, contents, Unix mode) for every file, folders first."""
    files: List[Tuple[str, bytes, int]] = []
    for f in sorted((HERE / NAME).iterdir()):
        if f.suffix in (".py", ".html"):
            files.append((f"{NAME}/{f.name}", f.read_bytes(), 0o644))
    files.append(
        (f"{NAME}/_version.py", f'VERSION = "{version}"\n'.encode(), 0o644),
    )
    for f in sorted(PACKAGE.iterdir()):
        if f.suffix == ".py" or f.name == "py.typed":
            files.append((f"{NAME}/_vendor/fluximage/{f.name}", f.read_bytes(), 0o644))
    # The package looks for the library beside itself first (a "packaged copy").
    files.append((f"{NAME}/_vendor/fluximage/libfluximage.so", library.read_bytes(), 0o755))
    files.append((f"{NAME}.desktop", (HERE / f"{NAME}.desktop").read_bytes(), 0o644))
    files.append((f"{NAME}.action", (HERE / f"{NAME}.action").read_bytes(), 0o644))
    readme = README.format(version=version, arch=platform.machine())
    files.append(("README.txt", readme.encode(), 0o644))
    return files


def main(argv: List[str]) -> int:
    if len(argv) != 4:
        print("usage: make_zip.py OUTPUT.zip VERSION LIBFLUXIMAGE_SO", file=sys.stderr)
        return 2
    out, version, library = Path(argv[1]), argv[2], Path(argv[3])
    if not library.is_file():
        print(f"{library} not found: build the library first (make lib)", file=sys.stderr)
        return 1
    if not (PACKAGE / "__init__.py").is_file():
        print(f"{PACKAGE} not found", file=sys.stderr)
        return 1
    files = entries(version, library)
    # Every folder above a file: "a/b/c.py" -> "a/", "a/b/".
    folders = sorted(
        {"/".join(n.split("/")[:depth]) + "/" for n, _, _ in files for depth in range(1, n.count("/") + 1)}
    )
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        # Krita's importer finds the module by its folder entry ("fluximage_export/").
        for folder in folders:
            info = zipfile.ZipInfo(folder, STAMP)
            info.external_attr = (0o40755 << 16) | 0x10
            z.writestr(info, b"")
        for name, data, mode in files:
            info = zipfile.ZipInfo(name, STAMP)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
