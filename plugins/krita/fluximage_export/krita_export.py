"""Krita-facing, and thin: a Krita document -> a temporary PNG -> :func:`logic.compress`."""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable, Optional

from . import logic


def export_document(
    document: Any,
    settings: logic.Settings,
    progress: Optional[Callable[[int, int], bool]] = None,
    tick: Optional[Callable[[], bool]] = None,
) -> logic.Report:
    """Exports what is visible in ``document`` (a ``krita.Document``) as settings say.

    The image is rendered to a lossless PNG in a private temporary folder (scaled down in
    Krita first when a maximum size is set, which makes the upload smaller; without
    transparency for JPEG), compressed by the Fluximage API into ``settings.path`` (written
    atomically), and the folder removed. The document itself is not changed. Raises what
    :func:`logic.compress` raises, and OSError when Krita cannot write the PNG.
    """
    problems = settings.problems()
    if problems:
        raise ValueError("; ".join(problems))
    flx = logic.load_fluximage()  # a missing package is reported before any work

    name = os.path.basename(document.fileName() or "") or document.name() or "image"
    stem = os.path.splitext(name)[0] or "image"
    stem = "".join("_" if c in '\\/:*?"<>|' else c for c in stem)
    with tempfile.TemporaryDirectory(prefix="fluximage-krita-") as folder:
        png = os.path.join(folder, stem + ".png")
        _render_png(
            document, png, settings.max_width, settings.max_height, settings.format != "jpg"
        )
        return logic.compress(png, settings, progress=progress, fluximage=flx, tick=tick)


def _render_png(
    document: Any, path: str, max_width: int, max_height: int, alpha: bool
) -> None:
    """Writes the document's visible image to `path` as a PNG: scaled to fit the maximum size
    (never enlarged), with transparency unless `alpha` is False (for JPEG, which has none:
    Krita's PNG exporter then fills transparent areas with its fill colour)."""
    import krita  # only inside Krita

    width, height = document.width(), document.height()
    new_size = logic.scaled_size(width, height, max_width, max_height)
    source, clone = document, None
    if new_size != (width, height):
        clone = document.clone()
        clone.setBatchmode(True)
        clone.scaleImage(
            new_size[0], new_size[1], int(document.xRes()), int(document.yRes()), "Bicubic"
        )
        clone.waitForDone()
        source = clone

    info = krita.InfoObject()
    info.setProperty("alpha", alpha)
    info.setProperty("compression", 6)  # nearly as small as 9, much faster
    info.setProperty("indexed", False)
    info.setProperty("interlaced", False)
    info.setProperty("forceSRGB", True)  # what the server expects
    info.setProperty("saveSRGBProfile", False)
    info.setProperty("storeMetaData", False)
    info.setProperty("storeAuthor", False)

    was_batch = source.batchmode()
    source.setBatchmode(True)  # no PNG options dialog
    try:
        ok = source.exportImage(path, info)
    finally:
        source.setBatchmode(was_batch)
        if clone is not None:
            clone.close()
    if not ok or not os.path.isfile(path):
        raise OSError("Krita could not write the image to a temporary PNG")
