"""The plug-in's logic, in plain Python: no Krita, no Qt. Tests call it directly.

What the Krita-facing part (``krita_export.py``, ``extension.py``) asks of this module:

- :class:`Settings` and :func:`Settings.problems`: what one export needs, and what is wrong
  with it, checked before anything is sent;
- :func:`suggest_output_path`, :func:`with_format_extension`, :func:`format_from_path`: the
  output file name the dialog proposes;
- :func:`compress`: the temporary PNG Krita exported -> the compressed file, through the
  ``fluximage`` package (which writes it atomically), returning a :class:`Report` (with the
  AI alt text and the SEO-named file when asked for);
- :func:`credits`: the key's plan and credits (``GET /api/usage``, free) -> a :class:`Credits`
  the dialog shows before the export, saying whether the AI options are allowed and why not;
- :class:`ProgressTracker`: the library's byte counts -> a percentage and a phase text, and
  the way a Cancel button stops the call;
- :func:`user_message`: an exception -> a message for a dialog (never containing the key).

The API key comes from the environment variable ``FLUXIMAGE_API_KEY``; ``FLUXIMAGE_BASE_URL``
points the plug-in at another server (the local emulator in the tests).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

#: Output formats: name -> the usual file extension.
FORMATS: Dict[str, str] = {"webp": ".webp", "avif": ".avif", "jpg": ".jpg", "png": ".png"}
#: What the format menu shows.
FORMAT_LABELS: Dict[str, str] = {
    "webp": "WebP",
    "avif": "AVIF",
    "jpg": "JPEG",
    "png": "PNG (lossless)",
}
QUALITY_MIN, QUALITY_MAX, QUALITY_DEFAULT = 40, 100, 82
SIZE_MAX = 65535
KEY_ENV = "FLUXIMAGE_API_KEY"
# Sent after the library's own user agent, so the server can tell the plug-in's traffic apart.
# The plug-in is versioned with the library it bundles (make_zip.py writes _version.py).
try:
    from ._version import VERSION
except ImportError:  # run from the source tree
    VERSION = "dev"
USER_AGENT = f"krita-plugin/{VERSION}"
#: What to do about used-up credits or a feature outside the plan (402, 403).
DASHBOARD = "your Fluximage dashboard (fluximage.app)"

_EXTENSION_FORMATS = {".webp": "webp", ".avif": "avif", ".jpg": "jpg", ".jpeg": "jpg", ".png": "png"}


# ---- the fluximage package ------------------------------------------------------------------


def load_fluximage() -> Any:
    """Imports the ``fluximage`` package: an installed one, else the copy that
    ``make krita-plugin-install`` puts in this plug-in's ``_vendor`` folder (with the
    library beside it). Raises ImportError with advice when neither is there."""
    try:
        import fluximage  # noqa: F401  (an installed package, or PYTHONPATH)
    except ImportError:
        vendor = str(Path(__file__).resolve().parent / "_vendor")
        if os.path.isdir(vendor) and vendor not in sys.path:
            sys.path.insert(0, vendor)
        try:
            import fluximage  # noqa: F401
        except ImportError as e:
            raise ImportError(
                "the fluximage Python package is not installed: run `make krita-plugin-install` "
                "in the libfluximage source tree, or `pip install` bindings/python"
            ) from e
    import fluximage

    return fluximage


# ---- settings and file names ---------------------------------------------------------------


@dataclass
class Settings:
    """What one export needs. Never holds the API key."""

    path: str
    format: str = "webp"
    quality: int = QUALITY_DEFAULT
    max_width: int = 0  # 0: no limit
    max_height: int = 0  # 0: no limit
    alt_text: bool = False  # ask for AI-written alt text (paid plans)
    seo_name: bool = False  # write the file under the AI-written SEO name (paid plans)

    def problems(self) -> List[str]:
        """What is wrong with these settings (empty when they are usable)."""
        out = []
        if not self.path.strip():
            out.append("no output file was given")
        elif os.path.isdir(self.path):
            out.append("the output path is a folder; give a file name")
        else:
            # A missing folder is made by the save, as in the GIMP plug-in and the library: what
            # must hold is that the nearest folder that exists takes new entries.
            folder = os.path.dirname(os.path.abspath(self.path))
            existing = folder
            while not os.path.lexists(existing) and os.path.dirname(existing) != existing:
                existing = os.path.dirname(existing)
            if not os.path.isdir(existing):
                out.append(f"{existing} is a file, so the folder {folder} cannot be made")
            elif not os.access(existing, os.W_OK):
                out.append(f"the folder {existing} is not writable")
        if self.format not in FORMATS:
            out.append(f"unknown format {self.format!r}: use webp, avif, jpg or png")
        if not QUALITY_MIN <= self.quality <= QUALITY_MAX:
            out.append(f"quality must be between {QUALITY_MIN} and {QUALITY_MAX}")
        for name, value in (("max width", self.max_width), ("max height", self.max_height)):
            if not 0 <= value <= SIZE_MAX:
                out.append(f"{name} must be between 0 (no limit) and {SIZE_MAX}")
        return out


def format_from_path(path: str) -> Optional[str]:
    """The format a file name's extension names ("photo.jpeg" -> "jpg"), or None."""
    return _EXTENSION_FORMATS.get(os.path.splitext(path)[1].lower())


def with_format_extension(path: str, fmt: str) -> str:
    """``path`` with the extension of ``fmt`` when it had a known one (or none)."""
    root, ext = os.path.splitext(path)
    if not path or (ext and ext.lower() not in _EXTENSION_FORMATS):
        return path
    return root + FORMATS[fmt]


def suggest_output_path(
    document_file: Optional[str], document_name: Optional[str], fmt: str, fallback_dir: str
) -> str:
    """Where to export a document: beside its file (or in ``fallback_dir``), named after it,
    with the format's extension, and never the document's own file."""
    if document_file:
        folder = os.path.dirname(os.path.abspath(document_file))
        stem = os.path.splitext(os.path.basename(document_file))[0]
    else:
        folder = fallback_dir
        stem = (document_name or "").strip()
    stem = "".join("_" if c in '\\/:*?"<>|' else c for c in stem).strip() or "image"
    path = os.path.join(folder, stem + FORMATS[fmt])
    if document_file and os.path.abspath(path) == os.path.abspath(document_file):
        path = os.path.join(folder, stem + "-fluximage" + FORMATS[fmt])
    return path


def scaled_size(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The size that fits max_width x max_height (0: no limit), keeping the aspect ratio and
    never enlarging; what the server does, computed so that the upload can be scaled first."""
    scale = 1.0
    if max_width and width > max_width:
        scale = min(scale, max_width / width)
    if max_height and height > max_height:
        scale = min(scale, max_height / height)
    if scale >= 1.0:
        return width, height
    w = max(1, round(width * scale))
    h = max(1, round(height * scale))
    return (min(w, max_width) if max_width else w, min(h, max_height) if max_height else h)


def key_available(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether an API key is set (its value is not looked at here)."""
    return bool(environ.get(KEY_ENV, "").strip())


# ---- progress -------------------------------------------------------------------------------


class ProgressTracker:
    """Turns the library's progress reports into a percentage and a phase.

    The library reports bytes uploaded, then (once the server has compressed the image)
    bytes downloaded, starting over from 0 with the result's size as total; it does not say
    which. So: uploading until ``done`` reaches the first total (0..80 %), then "waiting"
    (no bytes move), and a report with a new total or a smaller ``done`` starts the download
    (80..100 %).

    ``callback`` is what the ``fluximage`` package calls: it records the numbers, calls
    ``on_update(percent, text)`` (percent -1 while waiting) and returns False once
    :meth:`cancel` was called, which makes the package stop the call (CancelledError).
    """

    UPLOAD = "Uploading to Fluximage"
    WAIT = "Fluximage is compressing the image"
    DOWNLOAD = "Downloading the result"

    def __init__(self, on_update: Optional[Callable[[int, str], None]] = None) -> None:
        self.on_update = on_update
        self.phase = self.UPLOAD
        self.percent = 0
        self.cancelled = False
        self._upload_total = 0
        self._last_done = 0

    def cancel(self) -> None:
        """Asks the running call to stop (from a Cancel button)."""
        self.cancelled = True

    def update(self, done: int, total: int) -> None:
        if self.phase == self.UPLOAD and self._upload_total == 0:
            self._upload_total = total
        if self.phase != self.DOWNLOAD and (
            done < self._last_done or (self._upload_total and total != self._upload_total)
        ):
            self.phase = self.DOWNLOAD
        elif self.phase == self.UPLOAD and total > 0 and done >= total:
            self.phase = self.WAIT
        self._last_done = done

        if self.phase == self.UPLOAD and total > 0:
            self.percent = int(80 * done / total)
        elif self.phase == self.DOWNLOAD and total > 0:
            self.percent = 80 + int(20 * min(done, total) / total)
        elif self.phase == self.WAIT:
            self.percent = -1
        if self.on_update is not None:
            self.on_update(self.percent, self.phase)

    def callback(self, done: int, total: int) -> bool:
        self.update(done, total)
        return not self.cancelled

    def tick(self) -> bool:
        """The package's ``tick``: called about every 50 ms while a call runs, also while no
        bytes move (progress reports changes only), so the dialog stays live."""
        if self.on_update is not None:
            self.on_update(self.percent, self.phase)
        return not self.cancelled


# ---- the export -----------------------------------------------------------------------------


@dataclass
class Report:
    """The outcome of one export."""

    path: str  # the file written: the chosen one, or the SEO-named one beside it
    input_size: int  # bytes of the lossless file uploaded
    output_size: int  # bytes written to `path`
    alt_text: Optional[str] = None  # the AI-written alt text, when asked for

    @property
    def saving(self) -> float:
        """The fraction saved, 0.83 for "83 % smaller" (negative when larger)."""
        return 1.0 - self.output_size / self.input_size if self.input_size else 0.0

    def summary(self) -> str:
        """ "Exported cat.webp with Fluximage: 1.2 MB → 210.4 kB (83% smaller)" """
        pct = round(abs(self.saving) * 100)
        change = f"{pct}% smaller" if self.saving >= 0 else f"{pct}% larger"
        return (
            f"Exported {os.path.basename(self.path)} with Fluximage: "
            f"{format_size(self.input_size)} \u2192 {format_size(self.output_size)} ({change})"
        )


def format_size(n: int) -> str:
    """Bytes as people read them: "532 bytes", "1.2 kB", "3.4 MB" (powers of 1000)."""
    if n < 1000:
        return f"{n} bytes"
    for unit in ("kB", "MB", "GB"):
        n_f = n / 1000
        if n_f < 1000 or unit == "GB":
            return f"{n_f:.1f} {unit}"
        n = int(n_f)
    return f"{n} bytes"  # not reached


def seo_path(chosen: str, seo_name: str, fmt: str) -> Optional[str]:
    """The file name for a result with the SEO name ``seo_name``: that name (folder part and
    extension dropped, characters unsafe in file names replaced) with the format's
    extension, in the folder of ``chosen``; None when nothing usable is left of it. It is
    saved with ``exists="rename"``: a file already there is kept ("name-2.webp" then)."""
    stem = os.path.basename(seo_name.replace("\\", "/"))
    if format_from_path(stem):
        stem = os.path.splitext(stem)[0]
    stem = "".join("_" if c in '\\/:*?"<>|[]' else c for c in stem).strip()
    if not stem or stem.startswith("."):
        return None
    return os.path.join(os.path.dirname(os.path.abspath(chosen)), stem + FORMATS[fmt])


def compress(
    source: str,
    settings: Settings,
    *,
    progress: Optional[Callable[[int, int], bool]] = None,
    fluximage: Any = None,
    tick: Optional[Callable[[], bool]] = None,
) -> Report:
    """Compresses ``source`` (the lossless file Krita exported) into ``settings.path``, or
    beside it under the AI-written SEO name when ``settings.seo_name`` is set.

    The key comes from FLUXIMAGE_API_KEY (and the server from FLUXIMAGE_BASE_URL), read by the
    library when the client is made. The output is written atomically by the library: the
    whole result or, on any failure, an untouched path. Raises ValueError for unusable
    settings and the ``fluximage`` package's exceptions for everything else (see
    :func:`user_message`). ``progress`` (called when bytes move) or ``tick`` (called about
    every 50 ms, also while the server works) returning False cancels: the package raises
    its CancelledError and nothing is written.
    """
    problems = settings.problems()
    if problems:
        raise ValueError("; ".join(problems))
    flx = fluximage if fluximage is not None else load_fluximage()
    with flx.Client(user_agent=USER_AGENT) as client:
        with client.compress(
            source,
            format=settings.format,
            quality=settings.quality,
            max_width=settings.max_width or None,
            max_height=settings.max_height or None,
            alt_text=settings.alt_text,
            seo_rename=settings.seo_name,
            progress=progress,
            tick=tick,
        ) as batch:
            result = batch[0]
            if result.error is not None:
                raise result.error
            # The chosen file is replaced (the user named it); an SEO-named one never is.
            seo = seo_path(settings.path, result.seo_name or "", settings.format)
            if settings.seo_name and seo:
                written = result.save(seo, exists="rename", progress=progress, tick=tick)
            else:
                written = result.save(
                    settings.path, exists="overwrite", progress=progress, tick=tick
                )
            alt = result.alt_text if settings.alt_text else None
    return Report(str(written), os.path.getsize(source), os.path.getsize(written), alt or None)


# ---- credits --------------------------------------------------------------------------------


@dataclass
class Credits:
    """What the dialog shows before an export, from ``GET /api/usage``."""

    text: str  # "Fluximage plan pro: unlimited compressions, 1080 AI credits left."
    can_compress: bool  # False only when the server said no compression is left
    ai_allowed: bool  # whether the AI options may be ticked
    ai_reason: str  # why not, when they may not ("" otherwise)
    problem: str = ""  # what to do when no compression is left


def describe_usage(usage: Any) -> Credits:
    """A ``fluximage.Usage`` -> what the dialog shows (pure: tested without a server)."""
    plan = usage.plan or "unknown"
    used, limit = usage.compressions_used, usage.compressions_limit
    if limit is not None and limit >= 99999:  # how the API says "unlimited"
        compressions = "unlimited compressions"
    elif limit is not None and used is not None:
        compressions = f"{max(limit - used, 0)} of {limit} compressions left this billing period"
    else:
        compressions = "compressions left: unknown"
    ai = usage.ai_credits_remaining
    text = f"Fluximage plan {plan}: {compressions}" + (
        f", {ai} AI credits left." if ai is not None else "."
    )
    can_compress = usage.can_compress is not False
    problem = (
        ""
        if can_compress
        else "No compressions are left this billing period: the export would be refused "
        f"(402). Wait for the next period, or buy credits or a larger plan in {DASHBOARD}."
    )
    if usage.can_use_ai is not False:
        return Credits(text, can_compress, True, "", problem)
    if plan == "free":
        reason = "AI alt text and SEO names need a paid Fluximage plan (this key's plan is free)."
    else:
        reason = (
            f"No AI credits are left this month: buy AI credits in {DASHBOARD} to use alt "
            "text and SEO names."
        )
    return Credits(text, can_compress, False, reason, problem)


def credits(fluximage: Any = None) -> Credits:
    """Asks the server for the key's plan and credits (free, quick: no retries, short time
    limits). Never raises: a failure becomes a Credits saying what is unknown and why."""
    try:
        flx = fluximage if fluximage is not None else load_fluximage()
        with flx.Client(
            user_agent=USER_AGENT, retries=0, timeout=flx.Timeout(connect=5, read=10, total=15)
        ) as client:
            return describe_usage(client.usage())
    except Exception as e:  # shown in the dialog; the export itself reports errors fully
        if isinstance(e, ImportError):
            why = str(e)
        elif type(e).__name__ == "InvalidArgumentError":
            why = "no usable API key"
        else:
            why = str(e)
        return Credits(
            f"Credits: unknown ({why}).",
            True,
            False,
            "AI options: unavailable until the plan is known.",
        )


# ---- messages -------------------------------------------------------------------------------

_HINTS = {
    "AuthenticationError": "Krita takes the key from the environment variable "
    f"{KEY_ENV}: set it before starting Krita.",
    "ConnectionError": "Check the network connection and any proxy (HTTPS_PROXY); "
    "FLUXIMAGE_BASE_URL, when set, must name the Fluximage server.",
    "TimeoutError": "Check the network connection and any proxy (HTTPS_PROXY).",
    "PayloadTooLargeError": "Set a maximum width or height to make the upload smaller.",
    "QuotaExceededError": "The credits of this billing period are used up. Wait for the next "
    f"period, or buy credits or a larger plan in {DASHBOARD}; the export dialog shows the "
    "credits left. For AI text, untick the AI options to export without it.",
    "PermissionDeniedError": f"Untick the AI options, or upgrade your plan in {DASHBOARD}.",
}


def is_cancel(exc: BaseException) -> bool:
    """Whether ``exc`` means the user cancelled (nothing to report)."""
    return type(exc).__name__ == "CancelledError"


def user_message(exc: BaseException) -> str:
    """A message for a dialog: what went wrong and, where it helps, what to do. The
    ``fluximage`` package's messages never contain the API key."""
    if isinstance(exc, ImportError):
        return f"Export via Fluximage cannot run: {exc}."
    if not _is_flx(exc):
        if isinstance(exc, ValueError):
            return f"Cannot export: {exc}."
        return f"Export via Fluximage failed: {exc}"
    if type(exc).__name__ == "InvalidArgumentError" and (
        KEY_ENV in str(exc) or "API key" in str(exc)
    ):
        return (
            f"The Fluximage API key is missing or not usable: {exc}\nSet the environment "
            f"variable {KEY_ENV} to the key from your Fluximage dashboard (flx_live_ followed "
            "by 40 hexadecimal characters) before starting Krita."
        )
    text = f"Fluximage could not export the image: {exc}"
    for cls in type(exc).__mro__:
        if cls.__name__ in _HINTS:
            return f"{text}\n{_HINTS[cls.__name__]}"
    return text


def _is_flx(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the fluximage package."""
    return any(c.__module__.split(".")[0] == "fluximage" for c in type(exc).__mro__)
