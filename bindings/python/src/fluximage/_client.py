"""Client, Batch, Result and Usage: the Python face of libfluximage's C API."""

from __future__ import annotations

import ctypes
import dataclasses
import os
import sys
import weakref
from ctypes import byref, string_at
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Literal,
    Optional,
    Sequence,
    Tuple,
    Union,
    overload,
)

from . import _call, _lib, _sync
from ._errors import Error, LastError, check, make_error
from ._version import __version__

if TYPE_CHECKING:
    from ctypes import _Pointer

StrPath = Union[str, "os.PathLike[str]"]
"""A file system path: ``str`` or ``os.PathLike`` (``pathlib.Path``)."""

Format = Literal["webp", "avif", "jpg", "png"]
"""An output format."""

Exists = Literal["error", "rename", "overwrite"]
"""What :meth:`Result.save` does when a file is already at the output path: ``"error"`` raises
:class:`ExistsError` (the default), ``"rename"`` writes ``name-2.ext`` (or the next free
number), ``"overwrite"`` replaces the file."""

Position = Literal["TL", "TC", "TR", "ML", "MC", "MR", "BL", "BC", "BR"]
"""Where a watermark goes: top/middle/bottom, left/centre/right."""

ProgressCallback = Callable[[int, int], Optional[bool]]
"""``progress(done, total)``: bytes moved so far and the expected total (0 when unknown),
called when they change. Return ``False`` to cancel the call (it then raises
:class:`CancelledError`)."""

TickCallback = Callable[[], Optional[bool]]
"""``tick()``: called on the calling thread about every 50 ms while a call runs, whatever its
progress, to keep a host's event loop alive (an editor's Cancel button). Return ``False`` to
cancel the call."""

_U32_MAX = 2**32 - 1


@dataclass(frozen=True)
class NamedBytes:
    """Image bytes with the file name to upload them under, e.g. ``NamedBytes("cat.jpg", data)``.

    Plain ``bytes`` inputs are uploaded as ``image-1``, ``image-2``, ... in input order.
    """

    name: str
    data: bytes


Input = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, NamedBytes]
"""One image to compress: a path, bytes, or :class:`NamedBytes`."""


@dataclass(frozen=True)
class Timeout:
    """Time limits in seconds; ``None`` keeps the library's default for that limit.

    Attributes:
        connect: to open a connection (default 10 s).
        read: waiting for the answer to start or for its next bytes (default 120 s).
        total: one whole request, from upload to the last byte (default 600 s).
    """

    connect: Optional[float] = None
    read: Optional[float] = None
    total: Optional[float] = None


@dataclass(frozen=True)
class Watermark:
    """A PNG drawn on every image (paid plans).

    Attributes:
        path: the PNG file.
        scale: its width in percent of the image's width, 5..50.
        opacity: 0 (transparent) .. 100 (opaque).
        position: one of TL, TC, TR, ML, MC, MR, BL, BC, BR.
    """

    path: StrPath
    scale: int = 20
    opacity: int = 100
    position: Position = "BR"


@dataclass(frozen=True)
class CompressOptions:
    """What a compress asks for; ``CompressOptions()`` is the API's default (WebP, quality 82).

    Pass one to :meth:`Client.compress` or :meth:`Client.compress_file` as ``options=``, or
    use their keyword arguments, which override it. Checked by the library when the call
    starts (ranges; the watermark file), before anything is uploaded.

    Attributes:
        format: ``"webp"``, ``"avif"``, ``"jpg"`` or ``"png"`` (lossless).
        quality: lossy quality, 40..100.
        max_width, max_height: scale down proportionally to fit; never enlarge.
        session_id: groups the results under a session id of your choosing.
        watermark: a PNG path or a :class:`Watermark` (paid plans).
        alt_text, seo_rename: AI-written alt text / SEO file name (paid plans).
    """

    format: Format = "webp"
    quality: int = 82
    max_width: Optional[int] = None
    max_height: Optional[int] = None
    session_id: Optional[str] = None
    watermark: Union[Watermark, StrPath, None] = None
    alt_text: bool = False
    seo_rename: bool = False

    def _apply(self, options: Any) -> None:
        """Sets these options on a fresh flx_options."""
        lib = _lib.lib
        check(lib.flx_options_set_format(options, _format_number(self.format)))
        check(lib.flx_options_set_quality(options, _u32("quality", self.quality)))
        if self.max_width is not None or self.max_height is not None:
            w = 0 if self.max_width is None else _u32("max_width", self.max_width)
            h = 0 if self.max_height is None else _u32("max_height", self.max_height)
            check(lib.flx_options_set_max_size(options, w, h))
        if self.session_id is not None:
            check(lib.flx_options_set_session_id(options, _text(self.session_id)))
        if self.watermark is not None:
            wm = self.watermark if isinstance(self.watermark, Watermark) else Watermark(self.watermark)
            position = _lib.POSITIONS.get(str(wm.position).upper())
            if position is None:
                raise _invalid(
                    f"watermark position must be one of {', '.join(_lib.POSITIONS)} (got {wm.position!r})"
                )
            check(
                lib.flx_options_set_watermark(
                    options,
                    _path(wm.path),
                    _u32("watermark scale", wm.scale),
                    _u32("watermark opacity", wm.opacity),
                    position,
                )
            )
        if self.alt_text or self.seo_rename:
            check(lib.flx_options_set_ai(options, bool(self.alt_text), bool(self.seo_rename)))


def _merge(options: Optional["CompressOptions"], given: Dict[str, Any]) -> Optional["CompressOptions"]:
    """``options`` with the keyword arguments that were given; ``None`` for the defaults."""
    if options is not None and not isinstance(options, CompressOptions):
        raise _invalid(f"options must be a fluximage.CompressOptions (got {type(options).__name__})")
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes:
        return options
    return dataclasses.replace(options if options is not None else CompressOptions(), **changes)


def _exists_policy(exists: object) -> int:
    """The flx_exists number of an ``exists=`` argument, checked."""
    policy = _lib.EXISTS.get(exists) if isinstance(exists, str) else None
    if policy is None:
        raise _invalid(f"exists must be one of {', '.join(_lib.EXISTS)} (got {exists!r})")
    return policy


class _SaveInto:
    """Compress options plus the folder :meth:`Client.compress` saves results into during
    the call (flx_options_set_output)."""

    __slots__ = ("_opts", "_folder", "_policy")

    def __init__(self, opts: Optional["CompressOptions"], folder: StrPath, exists: str) -> None:
        policy = _exists_policy(exists)
        if not os.fspath(folder):
            raise _invalid('output_dir is empty; name a folder ("." for the current one)')
        self._opts, self._folder, self._policy = opts, folder, policy

    def _apply(self, options: Any) -> None:
        if self._opts is not None:
            self._opts._apply(options)
        check(_lib.lib.flx_options_set_output(options, _path(self._folder), self._policy))


def _new_options(opts: Optional[Union["CompressOptions", _SaveInto]]) -> Any:
    """Fresh flx_options with ``opts`` applied (the library's defaults for ``None``)."""
    options = _lib.lib.flx_options_new()
    if not options:
        raise LastError(_lib.FLX_INTERNAL).error()
    if opts is not None:
        try:
            opts._apply(options)
        except BaseException:
            _lib.lib.flx_options_free(options)
            raise
    return options


@dataclass(frozen=True)
class Usage:
    """The key's plan and credits, as ``GET /api/usage`` reported them.

    A number is ``None`` when the server did not say. ``raw_json`` is the answer as received,
    with the server's own field names.
    """

    plan: Optional[str]
    compressions_used: Optional[int]
    compressions_limit: Optional[int]
    """Compressions allowed per billing period; 99999 stands for "unlimited"."""
    ai_credits_used: Optional[int]
    ai_credits_monthly: Optional[int]
    ai_topup_credits: Optional[int]
    ai_credits_remaining: Optional[int]
    can_compress: Optional[bool]
    """Whether a compression would be accepted now (the authoritative check)."""
    can_use_ai: Optional[bool]
    raw_json: str = field(repr=False)


# ----- small conversions -----------------------------------------------------------------------


def _invalid(message: str) -> Error:
    return make_error(_lib.FLX_INVALID_ARGUMENT, message)


def _u32(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U32_MAX:
        raise _invalid(f"{name} must be a whole number from 0 to {_U32_MAX} (got {value!r})")
    return value


def _ms(name: str, seconds: Optional[float]) -> int:
    """Seconds to milliseconds for the library, where 0 means "keep the default"."""
    if seconds is None:
        return 0
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not 0 < seconds <= _U32_MAX / 1000
    ):
        raise _invalid(f"{name} must be a positive number of seconds (got {seconds!r})")
    return max(1, round(seconds * 1000))


def _path(p: Union[StrPath, bytes]) -> bytes:
    return os.fsencode(os.fspath(p))


_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()


def _plain_paths(inputs: Any) -> Optional[List[bytes]]:
    """``inputs`` encoded as by :func:`_path` when they are all ``str`` paths, else ``None``."""
    if type(inputs) is str:
        inputs = (inputs,)
    elif type(inputs) is not list and type(inputs) is not tuple:
        return None
    out = []
    for p in inputs:
        if type(p) is not str:
            return None
        out.append(p.encode(_FS_ENCODING, _FS_ERRORS))
    return out


def _text(s: str) -> bytes:
    if "\0" in s:
        raise _invalid(f"{s!r} contains a NUL character")
    return s.encode("utf-8")


def _str(raw: Optional[bytes]) -> Optional[str]:
    return None if raw is None else raw.decode("utf-8", "replace")


def _null(p: Any) -> None:
    """Sets the pointer variable ``p`` to NULL (after freeing what it pointed to)."""
    ctypes.memset(ctypes.addressof(p), 0, ctypes.sizeof(p))


def _num(value: int) -> Optional[int]:
    return None if value < 0 else int(value)


def _format_number(fmt: str) -> int:
    key = fmt.lower() if isinstance(fmt, str) else fmt
    key = "jpg" if key == "jpeg" else key
    if key not in _lib.FORMATS:
        raise _invalid(f"format must be one of {', '.join(_lib.FORMATS)} (got {fmt!r})")
    return _lib.FORMATS[key]


# ----- results ---------------------------------------------------------------------------------

#: Result fields read with flx_batch_str / flx_batch_num (the others: error, expires_at).
_STR_FIELDS = {
    "input": _lib.FIELD_INPUT,
    "name": _lib.FIELD_NAME,
    "original_name": _lib.FIELD_ORIGINAL_NAME,
    "format": _lib.FIELD_FORMAT,
    "url": _lib.FIELD_URL,
    "alt_text": _lib.FIELD_ALT_TEXT,
    "seo_name": _lib.FIELD_SEO_NAME,
}
_NUM_FIELDS = {
    "size": _lib.FIELD_SIZE,
    "original_size": _lib.FIELD_ORIGINAL_SIZE,
    "width": _lib.FIELD_WIDTH,
    "height": _lib.FIELD_HEIGHT,
}
_FIELDS = frozenset([*_STR_FIELDS, *_NUM_FIELDS, "error", "expires_at", "path"])


@dataclass(frozen=True)
class Result:
    """The outcome of one input of a :meth:`Client.compress` call.

    Values the server did not give are ``None``. A failed item has ``ok == False`` and its
    exception in ``error``; its other fields are ``None`` except ``input``.
    """

    index: int
    """Position of the input in the call."""
    input: str
    """The input as given: its path, or the name of an in-memory buffer."""
    error: Optional[Error]
    """Why this image failed (an exception you may raise), or ``None``."""
    name: Optional[str]
    """The output file name, e.g. ``"cat.webp"``."""
    original_name: Optional[str]
    format: Optional[str]
    size: Optional[int]
    """Size of the result in bytes."""
    original_size: Optional[int]
    """Size of the upload in bytes."""
    width: Optional[int]
    """Pixels as the server said; when it did not, ``None``, or the image header's figure if
    the result was downloaded before this field was first read (see :attr:`dimensions`)."""
    height: Optional[int]
    """As ``width``."""
    url: Optional[str] = field(repr=False)
    """The signed download URL: anyone holding it can download the result until it expires,
    so log it no more than a password."""
    expires_at: Optional[datetime]
    alt_text: Optional[str]
    seo_name: Optional[str]
    path: Optional[Path]
    """The file :meth:`Client.compress` saved the result to (with ``output_dir``), or ``None``
    when it saved none (``error`` says why)."""
    _batch: "_Items" = field(repr=False, compare=False)

    def __getattr__(self, name: str) -> Any:
        # A result made by a batch reads each field from the C batch on first use: most
        # programs look at a few (``ok``, ``name``) before downloading.
        d = self.__dict__
        items = d.get("_batch")
        if items is None or name not in _FIELDS:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        value = items._field(d["index"], name)
        d[name] = value  # a frozen dataclass: set once, never changed (its hash stays)
        return value

    @property
    def ok(self) -> bool:
        """Whether this image was optimized."""
        d = self.__dict__
        # Straight to __getattr__ the first time: a plain lookup would fail first.
        return (d["error"] if "error" in d else self.__getattr__("error")) is None

    @property
    def savings(self) -> Optional[float]:
        """The fraction saved, ``1 - size / original_size`` (0.8 means 80 % smaller)."""
        if self.size is None or not self.original_size:
            return None
        return 1.0 - self.size / self.original_size

    def read(
        self, *, progress: Optional[ProgressCallback] = None, tick: Optional[TickCallback] = None
    ) -> bytes:
        """Downloads the optimized image into memory (without the API key).

        Raises this item's own error when it failed, :class:`ResultExpiredError` when the
        download URL expired.
        """
        return self._batch._fetch(self.index, progress, tick)

    def save(
        self,
        path: StrPath,
        *,
        exists: Exists = "error",
        progress: Optional[ProgressCallback] = None,
        tick: Optional[TickCallback] = None,
    ) -> Path:
        """Downloads the optimized image to ``path`` and returns the path written.

        ``path`` is a file, or a folder (an existing directory, or a path ending in ``/``) in
        which the file is named after the result; missing folders are created.

        A file already at the output path is never replaced unless asked: ``exists="error"``
        (the default) raises :class:`ExistsError` before downloading, ``"rename"`` writes
        ``name-2.ext`` (or the next free number), ``"overwrite"`` replaces it. Under every
        policy the results of one batch never replace each other, and the item's own input
        file is never replaced (:class:`InvalidArgumentError`).

        The file is written through a temporary file and renamed into place, so nothing is
        left behind by a failed or interrupted download.
        """
        return self._batch._save(self.index, path, exists, progress, tick)

    @property
    def dimensions(self) -> Optional[Tuple[int, int]]:
        """``(width, height)`` as the server said or, when it did not, as read from the
        image's header once it was saved or read; ``None`` while unknown."""
        w, h = self.width, self.height
        if w is None or h is None:  # read again: a download may have found them since
            w, h = self._batch._field(self.index, "width"), self._batch._field(self.index, "height")
        return None if w is None or h is None else (w, h)


class _Items:
    """What a batch's results need from it: the C batch, and the client to download with.
    Results refer to this rather than to their :class:`Batch`, so that a batch and its
    results form no reference cycle and are freed as soon as the last of them is dropped."""

    __slots__ = ("_client", "_ptr", "_closed")
    # Set by Batch without an __init__ call (it runs once per call): `_client`, the client to
    # download with; `_ptr`, the C batch, freed with this object; `_closed`, set by
    # Batch.close() (no more downloads).
    _client: "Client"
    _ptr: "Optional[_Pointer[_lib.flx_batch]]"
    _closed: bool

    def __del__(self, _free: Callable[[Any], None] = _lib.lib.flx_batch_free) -> None:
        ptr, self._ptr = self._ptr, None
        if ptr:
            _free(ptr)

    def _field(self, i: int, name: str) -> Any:
        # The C batch lives as long as this object, which every result refers to.
        ptr = self._ptr
        lib = _lib.lib
        code = _STR_FIELDS.get(name)
        if code is not None:
            raw: Optional[bytes] = lib.flx_batch_str(ptr, i, code)
            text = None if raw is None else raw.decode("utf-8", "replace")
            return (text or "") if name == "input" else text
        if name == "error":
            status = lib.flx_batch_status(ptr, i)
            if status == _lib.FLX_OK:
                return None
            return make_error(
                status,
                _str(lib.flx_batch_error(ptr, i)) or "",
                _num(lib.flx_batch_num(ptr, i, _lib.FIELD_HTTP_STATUS)),
            )
        if name == "path":
            saved: Optional[bytes] = lib.flx_batch_str(ptr, i, _lib.FIELD_PATH)
            return None if saved is None else Path(os.fsdecode(saved))
        if name == "expires_at":
            expires = _num(lib.flx_batch_num(ptr, i, _lib.FIELD_EXPIRES_UNIX))
            return None if expires is None else datetime.fromtimestamp(expires, timezone.utc)
        return _num(lib.flx_batch_num(ptr, i, _NUM_FIELDS[name]))

    def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise make_error(_lib.FLX_INVALID_ARGUMENT, "the batch is closed")

    # Downloads
    def _fetch(
        self, i: int, progress: Optional[ProgressCallback], tick: Optional[TickCallback]
    ) -> bytes:
        if self._closed:
            self._check_open()
        data = _lib.BytesP()
        length = ctypes.c_size_t(0)
        owner = self._client
        client, batch, fetch = owner._handle.acquire(), self._ptr, _lib.lib.flx_batch_fetch

        def call(opts: Any) -> int:
            status: int = fetch(client, batch, i, opts, byref(data), byref(length))
            return status

        def discard() -> None:
            if data:
                _lib.lib.flx_bytes_free(data, length.value)
                _null(data)

        owner._run(call, None, (), progress, discard, None, tick)
        n = length.value
        try:
            return string_at(data, n)
        finally:
            _lib.lib.flx_bytes_free(data, n)

    def _save(
        self,
        i: int,
        path: StrPath,
        exists: str,
        progress: Optional[ProgressCallback],
        tick: Optional[TickCallback],
    ) -> Path:
        policy = _exists_policy(exists)
        raw = _path(path)
        written = ctypes.c_char_p()
        self._check_open()
        (client,), batch = self._client._begin(), self._ptr

        def call(opts: Any) -> int:
            return int(
                _lib.lib.flx_batch_save(client, batch, i, raw, policy, opts, ctypes.byref(written))
            )

        def discard() -> None:
            if written.value is not None:
                _lib.lib.flx_string_free(written)  # the library's pointer, not a copy
                written.value = None

        self._client._run(call, None, (), progress, discard, None, tick)
        try:
            if written.value is None:
                raise make_error(_lib.FLX_INTERNAL, "the library wrote no path")
            return Path(os.fsdecode(written.value))
        finally:
            discard()



class Batch(Sequence[Result]):
    """The outcome of a :meth:`Client.compress` call: one :class:`Result` per input, in input
    order. Close it (or use it as a context manager) to free it early; it is also freed when
    garbage-collected (once neither it nor any of its results is referenced).

    """

    def __init__(
        self,
        client: "Client",
        ptr: "_Pointer[_lib.flx_batch]",
        n: Optional[int] = None,
        all_ok: bool = False,
    ) -> None:
        # `n`, when given, is the number of inputs: a batch has one item per input. `all_ok`:
        # the call returned FLX_OK, so no item has an error to read.
        self._items = items = _Items.__new__(_Items)
        items._client, items._ptr, items._closed = client, ptr, False
        if n is None:
            n = _lib.lib.flx_batch_len(ptr)
        new = object.__new__
        results: List[Result] = []
        for i in range(n):
            r = new(Result)
            d = r.__dict__  # fields are read when first used: see Result.__getattr__
            d["index"], d["_batch"] = i, items
            if all_ok:
                d["error"] = None
            results.append(r)
        self._results = results

    @property
    def session_id(self) -> Optional[str]:
        """The session the server grouped the results under, or ``None``."""
        return _str(_lib.lib.flx_batch_session_id(self._items._ptr))

    @property
    def raw_json(self) -> str:
        """The server's answer as received (a JSON array of answers when the batch needed
        several requests); nothing the server sent is lost."""
        return _str(_lib.lib.flx_batch_json(self._items._ptr)) or ""

    # Sequence
    def __len__(self) -> int:
        return len(self._results)

    @overload
    def __getitem__(self, i: int) -> Result: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Result]: ...

    def __getitem__(self, i: Union[int, slice]) -> Union[Result, Sequence[Result]]:
        return self._results[i]

    def __iter__(self) -> Iterator[Result]:
        return iter(self._results)

    def __repr__(self) -> str:
        failed = len(self.failed)
        return f"<fluximage.Batch {len(self)} results, {failed} failed, session_id={self.session_id!r}>"

    @property
    def ok(self) -> bool:
        """Whether every image was optimized."""
        return all(r.ok for r in self._results)

    @property
    def failed(self) -> List[Result]:
        """The results whose image failed."""
        return [r for r in self._results if not r.ok]

    # Lifetime
    def close(self) -> None:
        """Ends the batch: its results can then no longer be read or saved (downloaded).
        Their fields stay readable; the memory is freed once neither the batch nor any of
        its results is referenced."""
        self._items.close()

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

# ----- the client ------------------------------------------------------------------------------


class Client:
    """A connection to the Fluximage API. One client may be used by many threads at once.

    Args:
        api_key: ``flx_live_`` followed by 40 hex characters; ``None`` reads the environment
            variable ``FLUXIMAGE_API_KEY``. Only its shape is checked here (no request).
        base_url: the API's address; ``None`` reads ``FLUXIMAGE_BASE_URL``, else
            ``https://fluximage.app``. Plain ``http`` is allowed only for loopback hosts.
        timeout: seconds for one whole request (a number), or a :class:`Timeout` for the
            connect, read and total limits separately. ``None`` keeps the defaults
            (10 s connect, 120 s read, 600 s total).
        proxy: an HTTP CONNECT proxy such as ``"http://host:3128"`` (SOCKS is refused);
            ``None`` uses the environment's ``HTTPS_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY``.
            Loopback targets are always reached directly.
        ca_file: a PEM file of CA certificates trusted in addition to the system's.
        retries: how often a failed request is tried again (default 2; 0 disables).
            Retried: HTTP 429, 502, 503, 504 and failed connections.
        concurrency: requests of one batch in flight at once, 1..16 (default 4).
        user_agent: an application identifier sent after the library's own, e.g.
            ``"krita-plugin/1.0"`` (the server sees ``… fluximage-python/<v> krita-plugin/1.0``).

    Raises:
        InvalidArgumentError: a missing or malformed key, or a bad setting.
        FileError: ``ca_file`` cannot be read.

    Use it as a context manager, or call :meth:`close`, to close its connections.
    """

    def __init__(
        self,
        api_key: Optional[str] = None,
        *,
        base_url: Optional[str] = None,
        timeout: Union[float, Timeout, None] = None,
        proxy: Optional[str] = None,
        ca_file: Optional[StrPath] = None,
        retries: Optional[int] = None,
        concurrency: Optional[int] = None,
        user_agent: Optional[str] = None,
    ) -> None:
        lib = _lib.lib
        key = None if api_key is None else _text(api_key)
        ptr = lib.flx_client_new(key)
        if not ptr:
            raise LastError(_lib.FLX_INVALID_ARGUMENT).error()
        self._handle = _call.Handle(ptr, lib.flx_client_free, "client")
        self._finalizer = weakref.finalize(self, self._handle.close)
        try:
            agent = f"fluximage-python/{__version__}" + (f" {user_agent}" if user_agent else "")
            check(lib.flx_client_set_user_agent(ptr, _text(agent)))
            if base_url is not None:
                check(lib.flx_client_set_base_url(ptr, _text(base_url)))
            if timeout is not None:
                t = timeout if isinstance(timeout, Timeout) else Timeout(total=timeout)
                check(
                    lib.flx_client_set_timeouts(
                        ptr,
                        _ms("connect timeout", t.connect),
                        _ms("read timeout", t.read),
                        _ms("timeout", t.total),
                    )
                )
            if proxy is not None:
                check(lib.flx_client_set_proxy(ptr, _text(proxy)))
            if ca_file is not None:
                check(lib.flx_client_set_ca_file(ptr, _path(ca_file)))
            if retries is not None:
                check(lib.flx_client_set_retries(ptr, _u32("retries", retries)))
            if concurrency is not None:
                check(lib.flx_client_set_concurrency(ptr, _u32("concurrency", concurrency)))
        except BaseException:
            self.close()
            raise

    # Lifetime
    def close(self) -> None:
        """Closes the client's connections and frees it. Batches it made stay readable, but
        downloading their results needs an open client. Calling it twice is harmless."""
        self._handle.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._handle.closed

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<fluximage.Client {'closed' if self.closed else 'open'}>"

    # Plumbing shared by the calls
    def _begin(self, handles: Sequence[_call.Handle] = ()) -> Tuple[Any, ...]:
        """Acquires the client and ``handles``: (client, *handles). :meth:`_run` releases them."""
        client = self._handle.acquire()
        if not handles:
            return (client,)
        taken: List[_call.Handle] = [self._handle]
        try:
            ptrs = [client]
            for h in handles:
                ptrs.append(h.acquire())
                taken.append(h)
        except BaseException:
            for h in taken:
                h.release()
            raise
        return tuple(ptrs)

    def _run(
        self,
        call: Callable[[Any], int],
        opts: Optional[Union[CompressOptions, _SaveInto]],
        handles: Sequence[_call.Handle],
        progress: Optional[ProgressCallback],
        discard: Callable[[], None],
        adopt: Optional[Callable[[Error], None]] = None,
        tick: Optional[TickCallback] = None,
        waker: Optional[Callable[[Callable[[], None]], None]] = None,
    ) -> int:
        """Runs ``call(options)`` with flx_options made from ``opts`` (``None``: the defaults)
        and releases the client and ``handles``, acquired by :meth:`_begin`."""
        if progress is None and tick is None and waker is None and not handles:
            return _call.direct(call, None if opts is None else opts._apply, self._handle, discard, adopt)
        taken = [self._handle, *handles]
        try:
            options = _new_options(opts)
        except BaseException:
            for h in taken:
                h.release()
            raise
        return _call.run(call, options, taken, progress, discard, adopt, tick, waker)

    # The API
    def compress(
        self,
        inputs: Union[Input, Iterable[Input]],
        options: Optional[CompressOptions] = None,
        *,
        format: Optional[Format] = None,
        quality: Optional[int] = None,
        max_width: Optional[int] = None,
        max_height: Optional[int] = None,
        session_id: Optional[str] = None,
        watermark: Union[Watermark, StrPath, None] = None,
        alt_text: Optional[bool] = None,
        seo_rename: Optional[bool] = None,
        progress: Optional[ProgressCallback] = None,
        tick: Optional[TickCallback] = None,
        output_dir: Optional[StrPath] = None,
        exists: Exists = "error",
    ) -> Batch:
        """Compresses images and returns a :class:`Batch` with one result per input, in order.

        Args:
            inputs: one input or an iterable of them: paths (``str``, ``pathlib.Path``),
                ``bytes`` (uploaded as ``image-1``, ``image-2``, ...) or :class:`NamedBytes`.
                Files are streamed from disk; any number may be given (they are sent in
                requests of at most 20 files).
            options: a :class:`CompressOptions` (default: WebP, quality 82).
            format, quality, max_width, max_height, session_id, watermark, alt_text,
                seo_rename: the fields of :class:`CompressOptions`, given one by one; each
                one given overrides ``options``.
            progress: ``progress(done, total)`` is called on this thread with the bytes
                uploaded when they change (at most 20 times a second); return ``False`` to
                cancel. An exception it raises cancels the call and is re-raised.
            tick: ``tick()`` is called on this thread about every 50 ms while the call runs
                (see :data:`TickCallback`); return ``False`` to cancel.
            output_dir: save each result into this folder as soon as its request answers,
                while the next requests upload (on a slow link about the time of the upload
                alone; saving afterwards costs a round trip per image). Before anything is
                sent the folder is created and proved writable, and each result name (the
                input's stem and the format's extension; not with ``seo_rename``) is checked
                under ``exists`` as :meth:`Result.save` would: an input whose result could not
                be saved fails on its own with :class:`ExistsError` (or
                :class:`InvalidArgumentError` for its own input file) and is not sent, so it
                costs nothing. ``result.path`` is the file written; progress then counts the
                downloads too.
            exists: with ``output_dir``: ``"error"`` (the default), ``"rename"`` or
                ``"overwrite"``, as for :meth:`Result.save`.

        A file that cannot be read or decoded fails only its own result (``result.error``).
        When every image failed the call raises the first failure (e.g.
        :class:`AuthenticationError`, or :class:`FileError` when no file could be read), and
        the exception's ``batch`` says why each one failed.
        """
        paths = _plain_paths(inputs)
        keep: List[object] = []
        if paths is not None:  # the common case, made with less work: flx_compress()
            n = len(paths)
            array: Any = (ctypes.c_char_p * n)(*paths)
            compress = _lib.lib.flx_compress
        else:
            items = self._inputs(inputs)
            n = len(items)
            array = (_lib.flx_input * n)()
            compress = _lib.lib.flx_compress_inputs
            for slot, item in zip(array, items):
                if isinstance(item, NamedBytes):
                    data = bytes(item.data)
                    buf = ctypes.c_char_p(data)
                    keep.append((data, buf))
                    slot.data = ctypes.cast(buf, _lib.BytesP)
                    slot.len = len(data)
                    slot.name = _text(item.name)
                else:
                    slot.path = _path(item)
        out = _lib.BatchP()
        opts: Optional[Union[CompressOptions, _SaveInto]] = options
        if not (
            options is None and format is None and quality is None and max_width is None
            and max_height is None and session_id is None and watermark is None
            and alt_text is None and seo_rename is None
        ):
            opts = _merge(options, dict(
                format=format, quality=quality, max_width=max_width, max_height=max_height,
                session_id=session_id, watermark=watermark, alt_text=alt_text,
                seo_rename=seo_rename,
            ))
        if output_dir is not None:
            opts = _SaveInto(opts if isinstance(opts, CompressOptions) else None, output_dir, exists)
        client = self._handle.acquire()

        def call(c_options: Any) -> int:
            # `keep` holds the buffers `array` points into, for as long as the call runs.
            assert keep is not None
            status: int = compress(client, array, n, c_options, byref(out))
            return status

        def discard() -> None:
            if out:
                _lib.lib.flx_batch_free(out)
                _null(out)

        def adopt(error: Error) -> None:
            # Every image failed: the error says how, its batch says why for each input.
            if out:
                error.batch = Batch(self, out, n)

        status = self._run(call, opts, (), progress, discard, adopt, tick)
        try:
            return Batch(self, out, n, status == _lib.FLX_OK)
        except BaseException:
            discard()
            raise

    @staticmethod
    def _inputs(inputs: Union[Input, Iterable[Input]]) -> List[Union[StrPath, NamedBytes]]:
        single = (str, bytes, bytearray, memoryview, os.PathLike, NamedBytes)
        given: List[Any] = [inputs] if isinstance(inputs, single) else list(inputs)
        items: List[Union[StrPath, NamedBytes]] = []
        for i, item in enumerate(given):
            if isinstance(item, (bytes, bytearray, memoryview)):
                items.append(NamedBytes(f"image-{i + 1}", bytes(item)))
            elif isinstance(item, (str, os.PathLike, NamedBytes)):
                items.append(item)
            else:
                raise _invalid(
                    f"input {i} is a {type(item).__name__}; give a path, bytes or fluximage.NamedBytes"
                )
        return items

    def compress_file(
        self,
        src: StrPath,
        dst: StrPath,
        options: Optional[CompressOptions] = None,
        *,
        format: Optional[Format] = None,
        quality: Optional[int] = None,
        max_width: Optional[int] = None,
        max_height: Optional[int] = None,
        session_id: Optional[str] = None,
        watermark: Union[Watermark, StrPath, None] = None,
        alt_text: Optional[bool] = None,
        seo_rename: Optional[bool] = None,
        progress: Optional[ProgressCallback] = None,
        tick: Optional[TickCallback] = None,
    ) -> Path:
        """Compresses the file ``src`` and writes the result to ``dst``; returns ``dst``.

        Options are those of :meth:`compress`. ``dst`` is the caller's to replace; it is
        written atomically (whole or untouched), its folder is created when missing, and it
        must not be ``src``. The image's own failure is raised (e.g.
        :class:`ServerError` "cannot decode image").
        """
        src_b, dst_b = _path(src), _path(dst)
        merged = _merge(options, dict(
            format=format, quality=quality, max_width=max_width, max_height=max_height,
            session_id=session_id, watermark=watermark, alt_text=alt_text, seo_rename=seo_rename,
        ))
        (client,) = self._begin()

        def call(c_options: Any) -> int:
            return int(_lib.lib.flx_compress_file(client, src_b, dst_b, c_options))

        self._run(call, merged, [], progress, lambda: None, None, tick)
        return Path(dst)

    def sync(
        self,
        src: StrPath,
        out: StrPath,
        *,
        format: Format = "webp",
        quality: int = 82,
        max_width: Optional[int] = None,
        max_height: Optional[int] = None,
        watermark: Union[Watermark, StrPath, None] = None,
        alt_text: bool = False,
        seo_rename: bool = False,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        include_hidden: bool = False,
        follow_symlinks: bool = False,
        dry_run: bool = False,
        allow_partial: bool = False,
        if_larger: str = "original",
        in_place: bool = False,
        backup_dir: Optional[StrPath] = None,
        preserve_mtime: bool = False,
        overwrite: bool = False,
        on_event: "Optional[_sync.EventCallback]" = None,
        progress: Optional[ProgressCallback] = None,
    ) -> "_sync.SyncReport":
        """Compresses every image under the folder ``src`` into the mirrored tree under ``out``,
        sending only what the manifest in ``out`` (``.fluximage-sync``) does not already have.

        ``src/a/b/cat.png`` becomes ``out/a/b/cat.<format>``. A rerun sends only new or changed
        files; a rerun after a crash does not pay again for results already saved. Two inputs
        that map to one output (``a.jpg`` and ``a.png``) are both reported as conflicts and
        neither is sent; an output changed by hand, or not written by the sync, is a conflict
        unless ``overwrite``. Nothing is ever deleted.

        Args:
            src, out: the source folder and the output folder.
            format, quality, max_width, max_height, watermark, alt_text, seo_rename: as for
                :meth:`compress`.
            include, exclude: lists of globs on the path relative to ``src`` (``*``, ``?``,
                ``**``, ``[a-z]``, ``{jpg,png}``; without ``/`` a glob matches the file name).
            include_hidden, follow_symlinks: also take dot-files and symlinked folders.
            dry_run: only plan; nothing is uploaded or written.
            allow_partial: when the credits do not cover the plan, send what they cover (in
                order of path) instead of raising :class:`QuotaExceededError`.
            if_larger: when a result in the input's format is not smaller: ``"original"``
                (write the input's bytes), ``"write"`` or ``"skip"``.
            in_place, backup_dir: replace the originals in ``src``, copying each to
                ``backup_dir`` first (required). Implied when ``out`` is ``src``; with
                ``in_place=True``, ``out`` must be ``src`` (a guard against a mistyped path).
            preserve_mtime: give each output its input's modification time.
            overwrite: replace outputs changed by hand or not written by the sync.
            on_event: called on this thread with the :class:`SyncPlan` once, then with a
                :class:`SyncEvent` per file; returning ``False`` cancels the sync.
            progress: ``progress(done, total)`` in bytes of inputs, as for :meth:`compress`.

        Returns a :class:`SyncReport` (also iterable over its events). Per-file failures are
        in the report; the call raises only when it could not run, e.g.
        :class:`QuotaExceededError` (nothing was uploaded), :class:`InvalidArgumentError`,
        :class:`FileError`, :class:`CancelledError`.
        """
        return _sync.sync(
            self,
            src,
            out,
            format=format,
            quality=quality,
            max_width=max_width,
            max_height=max_height,
            watermark=watermark,
            alt_text=alt_text,
            seo_rename=seo_rename,
            include=include,
            exclude=exclude,
            include_hidden=include_hidden,
            follow_symlinks=follow_symlinks,
            dry_run=dry_run,
            allow_partial=allow_partial,
            if_larger=if_larger,
            in_place=in_place,
            backup_dir=backup_dir,
            preserve_mtime=preserve_mtime,
            overwrite=overwrite,
            on_event=on_event,
            progress=progress,
        )

    def usage(self) -> Usage:
        """Asks the server for the key's plan and credits (``GET /api/usage``)."""
        out = _lib.UsageP()
        (client,) = self._begin()

        def call(opts: Any) -> int:
            return int(_lib.lib.flx_usage_get(client, opts, ctypes.byref(out)))

        def discard() -> None:
            if out:
                _lib.lib.flx_usage_free(out)
                _null(out)

        self._run(call, None, [], None, discard)
        try:
            lib = _lib.lib

            def n(f: int) -> Optional[int]:
                return _num(lib.flx_usage_num(out, f))

            def b(f: int) -> Optional[bool]:
                v = n(f)
                return None if v is None else bool(v)

            return Usage(
                plan=_str(lib.flx_usage_plan(out)),
                compressions_used=n(_lib.USAGE_COMPRESSIONS_USED),
                compressions_limit=n(_lib.USAGE_COMPRESSIONS_LIMIT),
                ai_credits_used=n(_lib.USAGE_AI_CREDITS_USED),
                ai_credits_monthly=n(_lib.USAGE_AI_CREDITS_MONTHLY),
                ai_topup_credits=n(_lib.USAGE_AI_TOPUP_CREDITS),
                ai_credits_remaining=n(_lib.USAGE_AI_CREDITS_REMAINING),
                can_compress=b(_lib.USAGE_CAN_COMPRESS),
                can_use_ai=b(_lib.USAGE_CAN_USE_AI),
                raw_json=_str(lib.flx_usage_json(out)) or "",
            )
        finally:
            discard()
