"""Folder sync (``Client.sync``): the plan, the per-file events and the report, as dataclasses.

The C library does the work (see ``flx_sync`` in include/fluximage.h); this module only
translates options in and results out. The C call runs on a helper thread (see ``_call``);
its event callback only queues copies of the events, and the calling thread hands them to the
caller's ``on_event`` every 50 ms, so ``on_event`` runs on the caller's thread, where Ctrl-C
and exceptions behave as usual.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, Optional, Sequence, Union

from . import _lib
from ._errors import Error, LastError, check, make_error

if TYPE_CHECKING:  # pragma: no cover
    from ._client import Client, Format, StrPath, Watermark

# enum flx_sync_event_kind, as the outcome names of SyncEvent
OUTCOMES = {
    1: "up-to-date",
    2: "compressed",
    3: "kept-original",
    4: "skipped",
    5: "conflict",
    6: "failed",
}
_PLANNED = 0

# enum flx_sync_flag
_FLAGS = {
    "include_hidden": 0,
    "follow_symlinks": 1,
    "dry_run": 2,
    "allow_partial": 3,
    "in_place": 4,
    "preserve_mtime": 5,
    "overwrite": 6,
}

# enum flx_if_larger
IF_LARGER = {"original": 0, "write": 1, "skip": 2}

# enum flx_sync_field, in order: the plan's fields, then the report's
_PLAN_FIELDS = (
    "files",
    "up_to_date",
    "to_compress",
    "conflicts",
    "skipped",
    "bytes_to_upload",
    "requests",
    "compressions_needed",
    "ai_credits_needed",
)
_REPORT_FIELDS = (
    "up_to_date",
    "compressed",
    "kept_original",
    "skipped",
    "conflicts",
    "failed",
    "not_done",
    "bytes_in",
    "bytes_out",
    "credits_spent",
    "requests",
)
_ELAPSED_MS = len(_PLAN_FIELDS) + len(_REPORT_FIELDS)

#: Seconds without a poll from the calling thread after which the plan's wait gives up.
_STALE = 1.0
# How often the plan callback, waiting for the calling thread, checks that it still waits.
TICK = 0.05


@dataclass(frozen=True)
class SyncPlan:
    """What a sync will do, computed before anything is uploaded."""

    #: Files considered (image files after include/exclude, plus other files counted as skipped).
    files: int
    #: Files whose output is up to date.
    up_to_date: int
    #: Files to compress (or whose already-paid result is still to be fetched).
    to_compress: int
    #: Files in conflict (not sent).
    conflicts: int
    #: Files left out: not images, empty, too large.
    skipped: int
    #: Bytes to upload.
    bytes_to_upload: int
    #: Compress requests needed (at most 20 files each).
    requests: int
    #: Compression credits needed.
    compressions_needed: int
    #: AI credits needed.
    ai_credits_needed: int


@dataclass(frozen=True)
class SyncEvent:
    """What happened to one file."""

    #: ``"up-to-date"``, ``"compressed"``, ``"kept-original"``, ``"skipped"``, ``"conflict"``
    #: or ``"failed"``.
    outcome: str
    #: The input, relative to the source folder (``/``-separated).
    input: str
    #: The output, relative to the output folder, or ``None`` when there is none.
    output: Optional[str]
    #: The input's size in bytes.
    input_size: int
    #: The output's size in bytes, or ``None``.
    output_size: Optional[int]
    #: The output written is larger than the input (a format change, or ``if_larger="write"``).
    larger_than_input: bool
    #: Why the file was skipped, in conflict or kept original, in words.
    reason: Optional[str]
    #: Why a ``"failed"`` file failed: the exception it would have raised.
    error: Optional[Error]


@dataclass(frozen=True)
class SyncReport:
    """The totals of a sync, and the event of every file that was not up to date."""

    plan: SyncPlan
    up_to_date: int
    compressed: int
    kept_original: int
    #: Includes files that are not images (see :attr:`SyncPlan.skipped`).
    skipped: int
    conflicts: int
    failed: int
    #: Files not done: not covered by the credits (``allow_partial``), or left after a fatal
    #: error such as a rejected key.
    not_done: int
    bytes_in: int
    bytes_out: int
    credits_spent: int
    requests: int
    #: Seconds the sync took.
    elapsed: float
    #: Events of the files that were not up to date (up-to-date files are only counted).
    events: List[SyncEvent] = field(default_factory=list)

    def __iter__(self) -> Iterator[SyncEvent]:
        """Iterates over :attr:`events`."""
        return iter(self.events)


#: ``on_event`` receives the plan once, then one event per file; returning ``False`` cancels.
EventCallback = Callable[[Union[SyncPlan, SyncEvent]], Any]


def _text(raw: Optional[bytes]) -> Optional[str]:
    return None if raw is None else os.fsdecode(raw)


def _plan(report: Any) -> SyncPlan:
    n = _lib.lib.flx_sync_report_num
    return SyncPlan(*(int(n(report, i)) for i in range(len(_PLAN_FIELDS))))


def _event(e: _lib.flx_sync_event) -> SyncEvent:
    message = _text(e.message)
    failed = e.kind == 6
    return SyncEvent(
        outcome=OUTCOMES.get(e.kind, "failed"),
        input=_text(e.input) or "",
        output=_text(e.output),
        input_size=int(e.input_size),
        output_size=None if e.output_size < 0 else int(e.output_size),
        larger_than_input=bool(e.larger_than_input),
        reason=None if failed else message,
        error=make_error(e.status, message or "failed") if failed else None,
    )


def _report(ptr: Any) -> SyncReport:
    lib = _lib.lib
    values = [int(lib.flx_sync_report_num(ptr, len(_PLAN_FIELDS) + i)) for i in range(len(_REPORT_FIELDS))]
    events = []
    e = _lib.flx_sync_event()
    for i in range(int(lib.flx_sync_report_event_count(ptr))):
        check(lib.flx_sync_report_event(ptr, i, ctypes.byref(e)))
        events.append(_event(e))
    totals = dict(zip(_REPORT_FIELDS, values))
    return SyncReport(
        plan=_plan(ptr),
        up_to_date=totals["up_to_date"],
        compressed=totals["compressed"],
        kept_original=totals["kept_original"],
        skipped=totals["skipped"],
        conflicts=totals["conflicts"],
        failed=totals["failed"],
        not_done=totals["not_done"],
        bytes_in=totals["bytes_in"],
        bytes_out=totals["bytes_out"],
        credits_spent=totals["credits_spent"],
        requests=totals["requests"],
        elapsed=int(lib.flx_sync_report_num(ptr, _ELAPSED_MS)) / 1000.0,
        events=events,
    )


def _sync_options(
    include: Sequence[str],
    exclude: Sequence[str],
    flags: "dict[str, bool]",
    if_larger: str,
    backup_dir: "Optional[StrPath]",
) -> Any:
    """A new flx_sync_options with these settings (the caller frees it)."""
    lib = _lib.lib
    if isinstance(include, str) or isinstance(exclude, str):
        raise make_error(_lib.FLX_INVALID_ARGUMENT, "include and exclude take a list of globs, not one string")
    if if_larger not in IF_LARGER:
        raise make_error(
            _lib.FLX_INVALID_ARGUMENT, f"if_larger must be one of {', '.join(IF_LARGER)} (got {if_larger!r})"
        )
    so = lib.flx_sync_options_new()
    if not so:
        raise LastError(_lib.FLX_INTERNAL).error()
    try:
        for g in include:
            check(lib.flx_sync_options_add_include(so, str(g).encode()))
        for g in exclude:
            check(lib.flx_sync_options_add_exclude(so, str(g).encode()))
        for name, on in flags.items():
            check(lib.flx_sync_options_set_flag(so, _FLAGS[name], bool(on)))
        check(lib.flx_sync_options_set_if_larger(so, IF_LARGER[if_larger]))
        if backup_dir is not None:
            check(lib.flx_sync_options_set_backup_dir(so, os.fsencode(backup_dir)))
    except BaseException:
        lib.flx_sync_options_free(so)
        raise
    return so


def sync(
    client: "Client",
    src: "StrPath",
    out: "StrPath",
    *,
    format: "Format",
    quality: int,
    max_width: Optional[int],
    max_height: Optional[int],
    watermark: "Union[Watermark, StrPath, None]",
    alt_text: bool,
    seo_rename: bool,
    include: Sequence[str],
    exclude: Sequence[str],
    include_hidden: bool,
    follow_symlinks: bool,
    dry_run: bool,
    allow_partial: bool,
    if_larger: str,
    in_place: bool,
    backup_dir: "Optional[StrPath]",
    preserve_mtime: bool,
    overwrite: bool,
    on_event: Optional[EventCallback],
    progress: Optional[Callable[[int, int], Any]],
) -> SyncReport:
    """The body of :meth:`fluximage.Client.sync` (documented there)."""
    lib = _lib.lib
    flags = {
        "include_hidden": include_hidden,
        "follow_symlinks": follow_symlinks,
        "dry_run": dry_run,
        "allow_partial": allow_partial,
        "in_place": in_place,
        "preserve_mtime": preserve_mtime,
        "overwrite": overwrite,
    }
    src_b, out_b = os.fsencode(Path(src)), os.fsencode(Path(out))
    so = _sync_options(include, exclude, flags, if_larger, backup_dir)
    queue: List[Union[SyncPlan, SyncEvent]] = []
    lock = threading.Lock()
    # The plan is the one event the C call waits on, so that on_event can stop the sync
    # before anything is sent: `answered` is set once the calling thread has handled it.
    answered = threading.Event()
    verdict = {"go": True, "beat": time.monotonic()}
    pokes: List[Callable[[], None]] = []  # wakes the calling thread to deliver events

    def record(_user: Any, ev: Any) -> int:
        # On the helper thread: copy the event (its strings live only during this call).
        e = ev.contents
        item: Union[SyncPlan, SyncEvent] = _plan(e.report) if e.kind == _PLANNED else _event(e)
        with lock:
            queue.append(item)
        for poke in pokes:
            poke()
        if item.__class__ is not SyncPlan or on_event is None:
            return 0
        # Bounded: the calling thread answers once woken; when it stops delivering (Ctrl-C,
        # an exception) it is cancelling the call, so stop waiting and let the cancel through.
        while not answered.wait(TICK):
            with lock:
                if time.monotonic() - verdict["beat"] > _STALE:
                    return 1
        return 0 if verdict["go"] else 1

    callback = _lib.SYNC_FN(record)

    def deliver() -> bool:
        with lock:
            items = queue[:]
            queue.clear()
            verdict["beat"] = time.monotonic()
        for item in items:
            go = on_event is None or on_event(item) is not False
            if isinstance(item, SyncPlan):
                verdict["go"] = go
                answered.set()
            if not go:
                return False
        return True

    def watch(done: int, total: int) -> Any:
        try:
            if not deliver():
                return False
        except BaseException:
            verdict["go"] = False
            answered.set()
            raise
        return None if progress is None else progress(done, total)

    out_report = _lib.SyncReportP()
    try:
        from ._client import CompressOptions  # here: _client imports this module

        opts = CompressOptions(
            format=format, quality=quality, max_width=max_width, max_height=max_height,
            watermark=watermark, alt_text=alt_text, seo_rename=seo_rename,
        )
        (c,) = client._begin()

        def call(opts: Any) -> int:
            return int(
                lib.flx_sync(c, src_b, out_b, opts, so, callback, None, None, ctypes.byref(out_report))
            )

        def discard() -> None:
            lib.flx_sync_report_free(out_report)

        client._run(call, opts, [], watch, discard, waker=pokes.append)
        try:
            if not deliver():
                # Stopped on the last events: the work is done, so this only ends the call.
                raise make_error(_lib.FLX_CANCELLED, "cancelled: on_event returned False")
            return _report(out_report)
        finally:
            discard()
    finally:
        lib.flx_sync_options_free(so)
