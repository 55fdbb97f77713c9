"""Finding libfluximage and declaring its C functions (include/fluximage.h).

This module is the only place that knows the C signatures. Every exported function of the
header has one row in ``FUNCTIONS``; a test parses the header and checks that the rows match
it (names, arity and argument types).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from ctypes import (
    CFUNCTYPE,
    POINTER,
    c_bool,
    c_char_p,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

# ----- status codes (enum flx_status) ---------------------------------------------------------
FLX_OK = 0
FLX_INVALID_ARGUMENT = 1
FLX_UNAUTHORIZED = 2
FLX_FORBIDDEN = 3
FLX_QUOTA_EXCEEDED = 4
FLX_TOO_LARGE = 5
FLX_RATE_LIMITED = 6
FLX_BAD_REQUEST = 7
FLX_SERVER = 8
FLX_NETWORK = 9
FLX_TIMEOUT = 10
FLX_TLS = 11
FLX_PROTOCOL = 12
FLX_EXPIRED = 13
FLX_IO = 14
FLX_CANCELLED = 15
FLX_PARTIAL = 16
FLX_INTERNAL = 17
FLX_EXISTS = 18

# ----- enum flx_exists --------------------------------------------------------------------------
EXISTS = {"error": 0, "rename": 1, "overwrite": 2}

# ----- enum flx_format, flx_position ------------------------------------------------------------
FORMATS = {"webp": 0, "avif": 1, "jpg": 2, "png": 3}
POSITIONS = {"TL": 0, "TC": 1, "TR": 2, "ML": 3, "MC": 4, "MR": 5, "BL": 6, "BC": 7, "BR": 8}

# ----- enum flx_field ---------------------------------------------------------------------------
FIELD_NAME = 0
FIELD_ORIGINAL_NAME = 1
FIELD_FORMAT = 2
FIELD_URL = 3
FIELD_EXPIRES_AT = 4
FIELD_ALT_TEXT = 5
FIELD_SEO_NAME = 6
FIELD_INPUT = 7
FIELD_PATH = 8
FIELD_ORIGINAL_SIZE = 100
FIELD_SIZE = 101
FIELD_WIDTH = 102
FIELD_HEIGHT = 103
FIELD_EXPIRES_UNIX = 104
FIELD_HTTP_STATUS = 105

# ----- enum flx_usage_field ---------------------------------------------------------------------
USAGE_COMPRESSIONS_USED = 0
USAGE_COMPRESSIONS_LIMIT = 1
USAGE_AI_CREDITS_USED = 2
USAGE_AI_CREDITS_MONTHLY = 3
USAGE_AI_TOPUP_CREDITS = 4
USAGE_AI_CREDITS_REMAINING = 5
USAGE_CAN_COMPRESS = 6
USAGE_CAN_USE_AI = 7


# ----- opaque handles and structs ---------------------------------------------------------------
class flx_client(ctypes.Structure):
    """Opaque: a client (key, settings, connection pool)."""


class flx_options(ctypes.Structure):
    """Opaque: options of one call."""


class flx_batch(ctypes.Structure):
    """Opaque: the outcome of a compress call."""


class flx_usage(ctypes.Structure):
    """Opaque: a usage answer."""


class flx_cancel(ctypes.Structure):
    """Opaque: a cancel flag."""


class flx_input(ctypes.Structure):
    """struct flx_input: a path, or bytes with a name."""

    _fields_ = [
        ("path", c_char_p),
        ("data", POINTER(c_uint8)),
        ("len", c_size_t),
        ("name", c_char_p),
    ]


class flx_sync_options(ctypes.Structure):
    """Opaque: options of a folder sync."""


class flx_sync_report(ctypes.Structure):
    """Opaque: the outcome of a folder sync."""


class flx_sync_event(ctypes.Structure):
    """struct flx_sync_event: one event of a sync (strings owned by the library)."""

    _fields_ = [
        ("kind", c_int),
        ("input", c_char_p),
        ("output", c_char_p),
        ("input_size", c_uint64),
        ("output_size", c_int64),
        ("larger_than_input", c_bool),
        ("status", c_int),
        ("message", c_char_p),
        ("report", POINTER(flx_sync_report)),
    ]


ClientP = POINTER(flx_client)
OptionsP = POINTER(flx_options)
BatchP = POINTER(flx_batch)
UsageP = POINTER(flx_usage)
CancelP = POINTER(flx_cancel)
BytesP = POINTER(c_uint8)

#: typedef int (*flx_progress_fn)(void *user, uint64_t done, uint64_t total)
PROGRESS_FN = CFUNCTYPE(c_int, c_void_p, c_uint64, c_uint64)

SyncOptionsP = POINTER(flx_sync_options)
SyncReportP = POINTER(flx_sync_report)

#: typedef int (*flx_sync_fn)(void *user, const flx_sync_event *event)
SYNC_FN = CFUNCTYPE(c_int, c_void_p, POINTER(flx_sync_event))

#: typedef int (*flx_tick_fn)(void *user)
TICK_FN = CFUNCTYPE(c_int, c_void_p)

#: Every function of include/fluximage.h: name -> (restype, argtypes).
FUNCTIONS: Dict[str, Tuple[Any, Tuple[Any, ...]]] = {
    # errors and version
    "flx_last_error": (c_char_p, ()),
    "flx_last_http_status": (c_int32, ()),
    "flx_last_retry_after_ms": (c_int64, ()),
    "flx_status_str": (c_char_p, (c_int32,)),
    "flx_version": (c_char_p, ()),
    # batch
    "flx_batch_len": (c_size_t, (BatchP,)),
    "flx_batch_status": (c_int, (BatchP, c_size_t)),
    "flx_batch_error": (c_char_p, (BatchP, c_size_t)),
    "flx_batch_str": (c_char_p, (BatchP, c_size_t, c_int)),
    "flx_batch_num": (c_int64, (BatchP, c_size_t, c_int)),
    "flx_batch_json": (c_char_p, (BatchP,)),
    "flx_batch_session_id": (c_char_p, (BatchP,)),
    "flx_batch_save": (
        c_int,
        (ClientP, BatchP, c_size_t, c_char_p, c_int, OptionsP, POINTER(c_char_p)),
    ),
    "flx_string_free": (None, (c_char_p,)),
    "flx_batch_fetch": (
        c_int,
        (ClientP, BatchP, c_size_t, OptionsP, POINTER(BytesP), POINTER(c_size_t)),
    ),
    "flx_bytes_free": (None, (BytesP, c_size_t)),
    "flx_batch_free": (None, (BatchP,)),
    # client
    "flx_client_new": (ClientP, (c_char_p,)),
    "flx_client_free": (None, (ClientP,)),
    "flx_client_set_base_url": (c_int, (ClientP, c_char_p)),
    "flx_client_set_timeouts": (c_int, (ClientP, c_uint32, c_uint32, c_uint32)),
    "flx_client_set_proxy": (c_int, (ClientP, c_char_p)),
    "flx_client_set_ca_file": (c_int, (ClientP, c_char_p)),
    "flx_client_set_retries": (c_int, (ClientP, c_uint32)),
    "flx_client_set_retry_after_upload": (c_int, (ClientP, c_bool)),
    "flx_client_set_concurrency": (c_int, (ClientP, c_uint32)),
    "flx_client_set_user_agent": (c_int, (ClientP, c_char_p)),
    # compress
    "flx_compress": (c_int, (ClientP, POINTER(c_char_p), c_size_t, OptionsP, POINTER(BatchP))),
    "flx_compress_inputs": (
        c_int,
        (ClientP, POINTER(flx_input), c_size_t, OptionsP, POINTER(BatchP)),
    ),
    "flx_compress_buffer": (
        c_int,
        (ClientP, BytesP, c_size_t, c_char_p, OptionsP, POINTER(BatchP)),
    ),
    "flx_compress_file": (c_int, (ClientP, c_char_p, c_char_p, OptionsP)),
    # options and cancel
    "flx_options_new": (OptionsP, ()),
    "flx_options_free": (None, (OptionsP,)),
    "flx_options_set_format": (c_int, (OptionsP, c_int)),
    "flx_options_set_quality": (c_int, (OptionsP, c_uint32)),
    "flx_options_set_max_size": (c_int, (OptionsP, c_uint32, c_uint32)),
    "flx_options_set_session_id": (c_int, (OptionsP, c_char_p)),
    "flx_options_set_watermark": (c_int, (OptionsP, c_char_p, c_uint32, c_uint32, c_int)),
    "flx_options_set_ai": (c_int, (OptionsP, c_bool, c_bool)),
    "flx_options_set_output": (c_int, (OptionsP, c_char_p, c_int)),
    "flx_options_set_progress": (c_int, (OptionsP, PROGRESS_FN, c_void_p)),
    "flx_options_set_tick": (c_int, (OptionsP, TICK_FN, c_void_p)),
    "flx_options_set_cancel": (c_int, (OptionsP, CancelP)),
    "flx_cancel_new": (CancelP, ()),
    "flx_cancel_trigger": (c_int, (CancelP,)),
    "flx_cancel_free": (None, (CancelP,)),
    # usage
    "flx_usage_get": (c_int, (ClientP, OptionsP, POINTER(UsageP))),
    "flx_usage_plan": (c_char_p, (UsageP,)),
    "flx_usage_num": (c_int64, (UsageP, c_int)),
    "flx_usage_json": (c_char_p, (UsageP,)),
    "flx_usage_free": (None, (UsageP,)),
    # sync (see _sync.py)
    "flx_sync_options_new": (SyncOptionsP, ()),
    "flx_sync_options_free": (None, (SyncOptionsP,)),
    "flx_sync_options_add_include": (c_int, (SyncOptionsP, c_char_p)),
    "flx_sync_options_add_exclude": (c_int, (SyncOptionsP, c_char_p)),
    "flx_sync_options_set_flag": (c_int, (SyncOptionsP, c_int, c_bool)),
    "flx_sync_options_set_if_larger": (c_int, (SyncOptionsP, c_int)),
    "flx_sync_options_set_backup_dir": (c_int, (SyncOptionsP, c_char_p)),
    "flx_sync": (
        c_int,
        (
            ClientP,
            c_char_p,
            c_char_p,
            OptionsP,
            SyncOptionsP,
            SYNC_FN,
            c_void_p,
            CancelP,
            POINTER(SyncReportP),
        ),
    ),
    "flx_sync_report_num": (c_int64, (SyncReportP, c_int)),
    "flx_sync_report_event_count": (c_size_t, (SyncReportP,)),
    "flx_sync_report_event": (c_int, (SyncReportP, c_size_t, POINTER(flx_sync_event))),
    "flx_sync_report_free": (None, (SyncReportP,)),
}

#: The library versions this package works with: same major, and for 0.x the same minor.
COMPATIBLE = (0, 2)


def _shared_name() -> str:
    if sys.platform == "darwin":
        return "libfluximage.dylib"
    if sys.platform == "win32":
        return "fluximage.dll"
    return "libfluximage.so"


def _candidates() -> Iterator[Tuple[str, Optional[str]]]:
    """Where to look after FLUXIMAGE_LIB, in order: (description, path or name to dlopen)."""
    yield "the copy inside the package", str(Path(__file__).resolve().parent / _shared_name())
    yield "the system (ctypes.util.find_library)", ctypes.util.find_library("fluximage")
    # The dynamic loader's own search (LD_LIBRARY_PATH, ld.so.cache), which find_library may
    # miss when neither ldconfig nor a compiler is at hand.
    yield "the dynamic loader's search path", _shared_name()


def _load() -> Tuple[ctypes.CDLL, str]:
    env = os.environ.get("FLUXIMAGE_LIB")
    if env:
        try:
            return ctypes.CDLL(env), env
        except OSError as e:
            raise ImportError(
                f"fluximage: FLUXIMAGE_LIB is set to {env!r}, but that library cannot be "
                f"loaded: {e}. Point FLUXIMAGE_LIB at libfluximage's shared library, or unset it."
            ) from None
    tried: List[str] = ["FLUXIMAGE_LIB: not set"]
    for what, where in _candidates():
        if where is None:
            tried.append(f"{what}: not found")
            continue
        if os.sep in where and not os.path.exists(where):
            tried.append(f"{what}: {where} (not there)")
            continue
        try:
            return ctypes.CDLL(where), where
        except OSError as e:
            tried.append(f"{what}: {where} ({e})")
    raise ImportError(
        "fluximage: cannot find the libfluximage shared library. Looked in:\n  - "
        + "\n  - ".join(tried)
        + "\nBuild it with `make` and set FLUXIMAGE_LIB=/path/to/libfluximage.so, "
        "install it (`make install`), or install a fluximage wheel, which bundles it."
    )


def _declare(lib: ctypes.CDLL, path: str) -> None:
    missing = [name for name in FUNCTIONS if not hasattr(lib, name)]
    if missing:
        raise ImportError(
            f"fluximage: the library at {path} lacks {', '.join(missing)}: it is older than "
            f"this package. Install a matching libfluximage."
        )
    for name, (restype, argtypes) in FUNCTIONS.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = list(argtypes)


def _check_version(lib: ctypes.CDLL, path: str) -> str:
    raw: Optional[bytes] = lib.flx_version()
    version = (raw or b"?").decode("ascii", "replace")
    parts = version.split(".")
    try:
        major, minor = int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise ImportError(
            f"fluximage: the library at {path} has an unreadable version {version!r}"
        ) from None
    want_major, want_minor = COMPATIBLE
    if major != want_major or (major == 0 and minor != want_minor):
        raise ImportError(
            f"fluximage: the library at {path} is version {version}, but this package needs "
            f"{want_major}.{want_minor}.x. Install a matching libfluximage or package."
        )
    return version


lib, path = _load()
_declare(lib, path)
version = _check_version(lib, path)
