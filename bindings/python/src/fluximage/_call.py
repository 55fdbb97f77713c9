"""Running one C call so that Ctrl-C and exceptions from callbacks stop it promptly.

A call without callbacks (:func:`direct`) runs the C function on the calling thread. Only the
main thread receives ``KeyboardInterrupt``; there, for the call's duration, the wakeup fd of
the :mod:`signal` module points at a pipe that a watcher thread reads: Python's C-level signal
handler writes to it even while the main thread is inside the C call, and the watcher then
triggers the call's cancel flag, which closes its connection. The call returns
``FLX_CANCELLED``, the Python handler runs (``KeyboardInterrupt``) and its exception
propagates. A handler that does not raise lets the call start again, as Python does for an
interrupted system call (PEP 475), at most ``_MAX_RESTARTS`` times. When someone else holds the wakeup fd (an asyncio loop),
the call takes the helper-thread path below instead.

Why not simply hand the user's callable to the library as its progress callback? Because a
``KeyboardInterrupt`` from Ctrl-C would then be raised where no ``try`` can catch it: a Python
signal handler runs at the first instruction of the next Python function entered, which is the
callback itself, before its body starts. ctypes then prints the exception as "ignored" and the
call goes on. So a call with callbacks (:func:`run`) runs on a helper thread, with a cancel
flag and (when the caller gave one) a progress callback that only records numbers; the calling
thread waits in Python, where Ctrl-C is an ordinary exception, calls the user's ``progress``
when the library reports new figures (the library reports at most 20 times a second, and only
changes), and on any exception triggers the cancel flag, waits for the C call to return, then
re-raises. The waiter sleeps on an event that the report and the end of the call set: no
polling.
"""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import threading
from typing import Any, Callable, List, NoReturn, Optional, Sequence, Tuple

from . import _lib
from ._errors import CancelledError, LastError, make_error

ProgressFn = Callable[[int, int], Any]
TickFn = Callable[[], Any]

#: How often a ``tick`` callback runs while a call is in progress.
TICK = 0.05


class Handle:
    """A C handle shared by calls: freed exactly once, when closed and no call is using it."""

    def __init__(self, ptr: Any, free: Callable[[Any], None], what: str) -> None:
        self._ptr = ptr
        self._free = free
        self._what = what
        self._lock = threading.Lock()
        self._users = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def acquire(self) -> Any:
        """The pointer, kept valid until the matching release()."""
        with self._lock:
            if self._closed:
                raise make_error(_lib.FLX_INVALID_ARGUMENT, f"the {self._what} is closed")
            self._users += 1
            return self._ptr

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            free = self._closed and self._users == 0
        if free:
            self._do_free()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            free = self._users == 0
        if free:
            self._do_free()

    def _do_free(self) -> None:
        ptr, self._ptr = self._ptr, None
        if ptr:
            self._free(ptr)


class _Box:
    """What the helper thread hands back, guarded by ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.wake = threading.Event()  # set by a progress report and by the end of the call
        self.began = False  # the helper thread is making the C call
        self.finished = False  # the C call has returned
        self.abandoned = False  # the caller gave up: the helper discards any output
        self.status = _lib.FLX_INTERNAL
        self.last: Optional[LastError] = None
        self.exc: Optional[BaseException] = None
        self.done_bytes = 0
        self.total_bytes = 0
        self.poked = False  # news other than progress figures (sync events) is waiting


# Helper threads are kept for the next call: starting a thread per call cost more than the
# request itself (a keep-alive round trip takes ~0.1 ms). Each idle helper waits on its own
# inbox; it ends after _IDLE_EXIT seconds without work.
_idle: "List[queue.SimpleQueue[Callable[[], None]]]" = []
_idle_lock = threading.Lock()
_IDLE_EXIT = 10.0


def _forget_helpers() -> None:
    # A forked child has none of its parent's threads.
    global _idle_lock
    _idle_lock = threading.Lock()
    _idle.clear()


os.register_at_fork(after_in_child=_forget_helpers)


def _helper(inbox: "queue.SimpleQueue[Callable[[], None]]") -> None:
    while True:
        try:
            job = inbox.get(timeout=_IDLE_EXIT)
        except queue.Empty:
            with _idle_lock:
                if inbox in _idle:
                    _idle.remove(inbox)
                    return
            job = inbox.get()  # a caller took this inbox just now: its job is on the way
        job()
        with _idle_lock:
            _idle.append(inbox)


def _submit(job: Callable[[], None]) -> None:
    """Runs ``job`` on an idle helper thread, or on a new one."""
    with _idle_lock:
        inbox = _idle.pop() if _idle else None
    if inbox is None:
        inbox = queue.SimpleQueue()
        threading.Thread(target=_helper, args=(inbox,), name="fluximage-call", daemon=True).start()
    inbox.put(job)


def run(
    call: Callable[[Any], int],
    options: Any,
    handles: Sequence[Handle],
    progress: Optional[ProgressFn],
    discard: Callable[[], None],
    adopt: Optional[Callable[[Any], None]] = None,
    tick: Optional[TickFn] = None,
    waker: Optional[Callable[[Callable[[], None]], None]] = None,
) -> int:
    """Runs ``call(options)`` watched, and returns its status (FLX_OK or FLX_PARTIAL).

    ``options`` is a fresh flx_options that this function owns and frees. ``handles`` are
    acquired already; they are released when the C call has returned. ``discard`` frees what
    the call produced (its out-parameters) and is called when the caller will not use it.
    Any other status is raised as the matching exception; ``adopt``, when given, is called
    with that exception first and takes over the out-parameters (a batch whose images all
    failed), else they are discarded. ``tick``, when given, is called about every 50 ms while
    the call runs, whatever its progress; ``False`` from it cancels the call. ``waker``, when
    given, receives a function that any thread may call to have ``progress`` called on the
    calling thread even though the figures did not change (sync events queued by a C callback).
    """
    box = _Box()
    keep: List[Any] = []
    cancel = None
    try:
        cancel = _lib.lib.flx_cancel_new()
        if not cancel:
            raise LastError(_lib.FLX_INTERNAL).error()
        _lib.lib.flx_options_set_cancel(options, cancel)
        if progress is not None:

            def record(_user: Any, done: int, total: int) -> int:
                box.done_bytes, box.total_bytes = done, total
                box.wake.set()
                return 0

            cb = _lib.PROGRESS_FN(record)
            keep.append(cb)
            _lib.lib.flx_options_set_progress(options, cb, None)
    except BaseException:
        _lib.lib.flx_options_free(options)
        _lib.lib.flx_cancel_free(cancel)
        for h in handles:
            h.release()
        raise

    def work() -> None:
        with box.lock:
            if box.abandoned:
                return  # the caller gave up before the call began, and cleans up itself
            box.began = True
        try:
            status = call(options)
            last = LastError(status) if status not in (_lib.FLX_OK, _lib.FLX_PARTIAL) else None
            with box.lock:
                box.status, box.last = status, last
                box.finished = True
                abandoned = box.abandoned
            if abandoned:
                discard()  # out-parameters may be set on failure too (a batch whose items all failed)
        except BaseException as e:  # a ctypes conversion error: report it to the caller
            with box.lock:
                box.exc = e
                box.finished = True
        finally:
            cleanup()

    def cleanup() -> None:
        nonlocal cancel
        with box.lock:
            c, cancel = cancel, None
        _lib.lib.flx_options_free(options)
        _lib.lib.flx_cancel_free(c)
        for h in handles:
            h.release()
        keep.clear()
        box.done.set()
        box.wake.set()

    def poke() -> None:
        box.poked = True
        box.wake.set()

    if waker is not None:
        waker(poke)

    def trigger() -> None:
        with box.lock:
            if cancel is not None:
                _lib.lib.flx_cancel_trigger(cancel)

    reported: Optional[Tuple[int, int]] = None

    def report() -> None:
        nonlocal reported
        figures = (box.done_bytes, box.total_bytes)
        poked, box.poked = box.poked, False
        if progress is None or (figures == reported and not poked):
            return
        reported = figures
        if progress(*figures) is False:
            raise CancelledError(
                "cancelled: the progress callback returned False", status=_lib.FLX_CANCELLED
            )

    try:
        _submit(work)
        # Bounded by the call: the event is set when it ends (Ctrl-C interrupts the wait).
        while not box.done.is_set():
            box.wake.wait(TICK if tick is not None else None)
            box.wake.clear()
            if box.done.is_set():
                break
            report()
            if tick is not None and tick() is False:
                raise CancelledError(
                    "cancelled: the tick callback returned False", status=_lib.FLX_CANCELLED
                )
    except BaseException:
        # Ctrl-C, an exception from `progress`, or a cancel: stop the C call, wait for it to
        # return (it still reads our buffers), and re-raise. Output it produced is discarded.
        with box.lock:
            box.abandoned = True
            began, finished = box.began, box.finished
        if not began:
            cleanup()  # the thread did not start, or will return at once: the call never runs
        elif not finished:
            trigger()
            box.done.wait()
        elif box.exc is None:
            discard()
        raise
    if box.exc is not None:
        raise box.exc
    if box.last is not None:
        _fail(box.last, discard, adopt)
    try:
        report()  # the final figures, unless already reported
    except BaseException:
        discard()
        raise
    return box.status


def _fail(
    last: LastError, discard: Callable[[], None], adopt: Optional[Callable[[Any], None]]
) -> NoReturn:
    """Raises a failed call's error. Its out-parameters go to ``adopt`` with the error (a
    batch whose images all failed), or are freed when there is none or it raises."""
    error = last.error()
    if adopt is None:
        discard()
    else:
        try:
            adopt(error)
        except BaseException:
            discard()
            raise
    raise error


# ----- calls without callbacks -------------------------------------------------------------------

_MAIN = threading.main_thread().ident
_get_ident = threading.get_ident
_set_wakeup_fd = signal.set_wakeup_fd
_DONE = (_lib.FLX_OK, _lib.FLX_PARTIAL)


def _check_signals() -> None:
    """Runs the Python handlers of signals that arrived during a C call, here, so that their
    exception (``KeyboardInterrupt``) is raised here. (Without ``ctypes.pythonapi`` they run
    at the next function call anyway.)"""
    if _check_signals_c is not None:
        _check_signals_c()  # ctypes raises the exception a handler set


#: How often one call starts again after signals whose handlers returned, before it gives up
#: with CancelledError (a signal storm must not upload the same images for ever).
_MAX_RESTARTS = 10

try:
    _check_signals_c: Optional[Callable[[], int]] = ctypes.pythonapi.PyErr_CheckSignals
    ctypes.pythonapi.PyErr_CheckSignals.restype = ctypes.c_int
    ctypes.pythonapi.PyErr_CheckSignals.argtypes = []
except (AttributeError, OSError):
    _check_signals_c = None


class _Signals:
    """The main thread's Ctrl-C for calls made on it directly: a pipe for the signal module's
    wakeup fd, a thread that waits on it, and the cancel flag (with default options carrying
    it) that the thread triggers. The flag is kept from call to call until it is triggered."""

    def __init__(self) -> None:
        lib = _lib.lib
        self.lock = threading.Lock()
        self.armed = False  # a call is running on the main thread with our wakeup fd
        self.fired = False  # the watcher triggered the flag during that call
        self.flag: Any = None
        self.defaults: Any = None
        self.r, self.w = os.pipe()
        try:
            os.set_blocking(self.w, False)  # required by signal.set_wakeup_fd
            self.flag = lib.flx_cancel_new()
            self.defaults = lib.flx_options_new()
            if not self.flag or not self.defaults:
                raise LastError(_lib.FLX_INTERNAL).error()
            lib.flx_options_set_cancel(self.defaults, self.flag)
            threading.Thread(target=self._watch, name="fluximage-signals", daemon=True).start()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        os.close(self.r)
        os.close(self.w)
        _lib.lib.flx_options_free(self.defaults)
        _lib.lib.flx_cancel_free(self.flag)

    def _watch(self) -> None:
        r = self.r
        while True:
            try:
                data = os.read(r, 64)
            except OSError:  # closed: a forked child's copy
                return
            if not data:
                return
            with self.lock:
                if self.armed and not self.fired:
                    self.fired = True
                    _lib.lib.flx_cancel_trigger(self.flag)

    def renew(self) -> None:
        """A fresh flag after one was triggered (flags are irreversible)."""
        lib = _lib.lib
        with self.lock:
            flag = lib.flx_cancel_new()
            if not flag:
                raise LastError(_lib.FLX_INTERNAL).error()
            lib.flx_options_set_cancel(self.defaults, flag)
            lib.flx_cancel_free(self.flag)
            self.flag, self.fired = flag, False


_signals: Optional[_Signals] = None


def _main_signals() -> _Signals:
    global _signals
    if _signals is None:
        _signals = _Signals()
    return _signals


def _after_fork() -> None:
    # A forked child has the pipe but not the thread: it makes its own when it needs one.
    global _signals
    if _signals is not None:
        try:
            os.close(_signals.r)
            os.close(_signals.w)
        except OSError:
            pass
        _signals = None  # its C objects stay allocated: the parent's, never freed here


os.register_at_fork(after_in_child=_after_fork)


def _fresh_options(apply: Optional[Callable[[Any], None]]) -> Any:
    options = _lib.lib.flx_options_new()
    if not options:
        raise LastError(_lib.FLX_INTERNAL).error()
    if apply is not None:
        try:
            apply(options)
        except BaseException:
            _lib.lib.flx_options_free(options)
            raise
    return options


def direct(
    call: Callable[[Any], int],
    apply: Optional[Callable[[Any], None]],
    handle: Handle,
    discard: Callable[[], None],
    adopt: Optional[Callable[[Any], None]] = None,
) -> int:
    """Runs ``call(options)`` on this thread, without callbacks, and returns its status
    (FLX_OK or FLX_PARTIAL); other statuses are raised as in :func:`run`.

    ``apply``, when given, sets the call's options on fresh flx_options (made and freed here);
    without it the call gets the library's defaults. ``handle`` is acquired already and is
    released here. On the main thread Ctrl-C cancels the call (see the module's docstring).
    """
    # Written out without helper functions: this runs around every call, and a keep-alive
    # round trip's own cost is only ~80 µs of CPU.
    options = None
    sig = None
    owned: Optional[Handle] = handle  # released here unless run() takes it over
    try:
        if apply is not None:
            options = _fresh_options(apply)
        if _get_ident() != _MAIN:
            status = call(options)  # no KeyboardInterrupt reaches this thread: nothing to watch
        else:
            sig = _signals or _main_signals()
            try:  # our pipe as the wakeup fd, unless someone else holds it
                old = _set_wakeup_fd(sig.w, warn_on_full_buffer=False)
            except ValueError:  # not the main interpreter's main thread
                old = -2
            if old == -1:
                sig.armed = True
            else:
                if old >= 0:
                    _set_wakeup_fd(old)  # theirs (an asyncio loop's): put it back, untouched
                # Wait in Python while a helper thread makes the call.
                sig = None
                fresh = options if options is not None else _fresh_options(None)
                options, owned = None, None  # run() frees and releases them
                return run(call, fresh, [handle], None, discard, adopt)
            if options is not None:
                _lib.lib.flx_options_set_cancel(options, sig.flag)
            status = call(sig.defaults if options is None else options)
            if status == _lib.FLX_CANCELLED and sig.fired:
                status = _restart(call, options, sig, discard)
        if status in _DONE:
            return status
        last = LastError(status)  # read on this thread, right after the call
    finally:
        if sig is not None:
            with sig.lock:  # after this the watcher triggers nothing, so `fired` is final
                sig.armed = False
            _set_wakeup_fd(-1)
            if sig.fired:
                sig.renew()
        if options is not None:
            _lib.lib.flx_options_free(options)
        if owned is not None:
            owned.release()
    _fail(last, discard, adopt)


def _restart(
    call: Callable[[Any], int], options: Any, sig: _Signals, discard: Callable[[], None]
) -> int:
    """After a call was cancelled by a signal: runs the signal's handler, whose exception
    (Ctrl-C's KeyboardInterrupt) propagates; one that returns lets the call start again."""
    restarts = 0
    status = _lib.FLX_CANCELLED
    while status == _lib.FLX_CANCELLED and sig.fired:
        discard()
        _check_signals()
        restarts += 1
        if restarts > _MAX_RESTARTS:
            raise CancelledError(
                f"cancelled: interrupted by {restarts} signals", status=_lib.FLX_CANCELLED
            )
        sig.renew()
        if options is not None:
            _lib.lib.flx_options_set_cancel(options, sig.flag)
        status = call(sig.defaults if options is None else options)
    return status
