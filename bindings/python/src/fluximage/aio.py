"""asyncio: :class:`AsyncClient`, the :class:`fluximage.Client` surface with ``await``.

    import asyncio
    from fluximage.aio import AsyncClient

    async def main() -> None:
        async with AsyncClient() as client:  # the key comes from FLUXIMAGE_API_KEY
            batch = await client.compress(["cat.png", "dog.jpg"], format="avif")
            for result in batch:
                print(await result.save("out/") if result.ok else result.error)

    asyncio.run(main())

The library's calls block, so each runs on a thread of a bounded pool owned by the client while
the event loop goes on; every call shares the client's one connection pool. Cancelling the
awaiting task (``task.cancel()``, ``asyncio.wait_for``, ``asyncio.timeout``) triggers the
library's cancel flag: the transfer stops and its connection is closed, and the task ends
within about 100 ms, after the worker has let go of the call. Progress callbacks run on the
event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import weakref
from datetime import datetime
from pathlib import Path
from typing import (
    Any,
    Callable,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Set,
    TypeVar,
    Union,
    overload,
)

from . import _lib
from ._call import TICK
from ._client import (
    Batch,
    Client,
    Exists,
    Format,
    Input,
    NamedBytes,
    ProgressCallback,
    Result,
    StrPath,
    Timeout,
    Usage,
    Watermark,
    _new_options,
)
from ._errors import CancelledError, Error, LastError, make_error
from ._sync import EventCallback, SyncReport

__all__ = ["AsyncBatch", "AsyncClient", "AsyncResult"]

T = TypeVar("T")

_OK = (_lib.FLX_OK, _lib.FLX_PARTIAL)


class _Ticket:
    """One awaited call: the cancel flag of its C call, and its callbacks run on the loop.

    The worker thread attaches the flag while the C call runs; the loop may trigger it at any
    time, and ``lock`` makes sure it is never triggered after the worker freed it. While the
    call runs, the loop calls its watcher every 50 ms with the latest byte counts, as ``Client``
    does on its calling thread: the user's ``progress``, or the sync's event delivery.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, progress: Optional[ProgressCallback]
    ) -> None:
        self.loop = loop
        self.progress = progress  # the user's, to name it when it stops the call
        self.lock = threading.Lock()
        self.flag: Any = None
        self.cancelled = False
        self.error: Optional[BaseException] = None  # why the call stopped, when the caller asked
        self.done = 0
        self.total = 0
        self.running = False
        self.watch: Optional[Callable[[int, int], Any]] = None

    def attach(self, flag: Any) -> bool:
        with self.lock:
            if self.cancelled:
                return False
            self.flag = flag
            return True

    def detach(self) -> None:
        with self.lock:
            self.flag = None

    def cancel(self, error: Optional[BaseException] = None) -> None:
        with self.lock:
            if self.cancelled:
                return
            self.cancelled = True
            self.error = error
            if self.flag is not None:
                _lib.lib.flx_cancel_trigger(self.flag)

    # ----- on the worker thread ----------------------------------------------------------------

    def record(self, _user: Any, done: int, total: int) -> int:
        """The library's progress callback: only notes the numbers for the loop."""
        self.done, self.total = done, total
        return 1 if self.cancelled else 0

    def begin(self, watch: Callable[[int, int], Any]) -> None:
        self.watch = watch
        self.running = True
        self.loop.call_soon_threadsafe(self._tick)

    def end(self) -> None:
        self.running = False

    def final(self) -> None:
        """The last report after the call succeeded, on the loop, as ``Client`` makes it;
        raises what the watcher raised, or :class:`CancelledError` if it returned False."""
        outcome: "concurrent.futures.Future[bool]" = concurrent.futures.Future()

        def report() -> None:
            outcome.set_result(self._report())

        try:
            self.loop.call_soon_threadsafe(report)
        except RuntimeError:  # the loop is closed: nobody is waiting for this call
            return
        while True:  # bounded by the loop: it runs `report` soon, or it has stopped
            try:
                ok = outcome.result(timeout=TICK)
                break
            except concurrent.futures.TimeoutError:
                if self.loop.is_closed() or not self.loop.is_running():
                    return
        if not ok and self.error is not None:
            raise self.error

    # ----- on the event loop -------------------------------------------------------------------

    def _tick(self) -> None:
        if self.running and not self.cancelled and self._report():
            self.loop.call_later(TICK, self._tick)

    def _report(self) -> bool:
        """Calls the watcher; False (and the call cancelled) when it stopped the call."""
        if self.watch is None or self.cancelled:
            return not self.cancelled
        try:
            go_on = self.watch(self.done, self.total)
        except BaseException as e:  # re-raised by the awaiting task
            self.cancel(e)
            return False
        if go_on is False:
            what = "the progress callback" if self.watch is self.progress else "on_event or progress"
            self.cancel(CancelledError(f"cancelled: {what} returned False", status=_lib.FLX_CANCELLED))
            return False
        return True


_current = threading.local()


class _Core(Client):
    """The client's calls, made directly on the pool thread that runs them, watched by the
    ticket of the awaiting task instead of by a helper thread."""

    def _run(
        self,
        call: Callable[[Any], int],
        opts: Any,
        handles: Sequence[Any],
        progress: Optional[Callable[[int, int], Any]],
        discard: Callable[[], None],
        adopt: Optional[Callable[[Any], None]] = None,
        tick: Optional[Callable[[], Optional[bool]]] = None,
        waker: Optional[Callable[[Callable[[], None]], None]] = None,
    ) -> int:
        ticket: Optional[_Ticket] = getattr(_current, "ticket", None)
        if ticket is None:  # not from AsyncClient: behave like Client
            return super()._run(call, opts, handles, progress, discard, adopt, tick, waker)
        # On the pool, the awaiting task's ticket watches the call: the event loop calls
        # `progress` every 50 ms (which also delivers sync events), so `tick` and `waker`,
        # made for a blocked calling thread, have nothing to do here.
        lib = _lib.lib
        taken = [self._handle, *handles]
        flag = None
        options = None
        callback = None
        last: Optional[LastError] = None
        try:
            options = _new_options(opts)
            flag = lib.flx_cancel_new()
            if not flag:
                raise LastError(_lib.FLX_INTERNAL).error()
            lib.flx_options_set_cancel(options, flag)
            if progress is not None:
                callback = _lib.PROGRESS_FN(ticket.record)
                lib.flx_options_set_progress(options, callback, None)
            if not ticket.attach(flag):
                raise CancelledError("cancelled before it started", status=_lib.FLX_CANCELLED)
            try:
                if progress is not None:
                    ticket.begin(progress)
                status = int(call(options))
                if status not in _OK:
                    last = LastError(status)  # read on this thread, right after the call
            finally:
                ticket.end()
                ticket.detach()
        finally:
            lib.flx_options_free(options)
            lib.flx_cancel_free(flag)
            for h in taken:
                h.release()
        if last is not None:
            error = last.error()
            if adopt is None:
                discard()
            else:
                try:
                    adopt(error)  # a batch whose images all failed rides on the error
                except BaseException:
                    discard()
                    raise
            raise error
        if progress is not None:
            try:
                ticket.final()
            except BaseException:
                discard()  # the caller will not get what the call made
                raise
        return status


def _in_worker(ticket: _Ticket, fn: Callable[[], T]) -> T:
    _current.ticket = ticket
    try:
        return fn()
    finally:
        _current.ticket = None


def _retrieve(f: "asyncio.Future[Any]") -> None:
    # The outcome of an abandoned call is dropped without an "exception never retrieved" warning.
    if not f.cancelled():
        f.exception()


class AsyncResult:
    """One input's outcome in an :class:`AsyncBatch`: the fields of :class:`fluximage.Result`,
    with ``await read()`` and ``await save(...)``."""

    __slots__ = ("_result", "_client")

    def __init__(self, result: Result, client: "AsyncClient") -> None:
        self._result = result
        self._client = client

    @property
    def index(self) -> int:
        """Position of the input in the call."""
        return self._result.index

    @property
    def input(self) -> str:
        """The input as given: its path, or the name of an in-memory buffer."""
        return self._result.input

    @property
    def error(self) -> Optional[Error]:
        """Why this image failed (an exception you may raise), or ``None``."""
        return self._result.error

    @property
    def ok(self) -> bool:
        """Whether this image was optimized."""
        return self._result.ok

    @property
    def name(self) -> Optional[str]:
        """The output file name, e.g. ``"cat.webp"``."""
        return self._result.name

    @property
    def original_name(self) -> Optional[str]:
        return self._result.original_name

    @property
    def format(self) -> Optional[str]:
        return self._result.format

    @property
    def size(self) -> Optional[int]:
        """Size of the result in bytes."""
        return self._result.size

    @property
    def original_size(self) -> Optional[int]:
        """Size of the upload in bytes."""
        return self._result.original_size

    @property
    def width(self) -> Optional[int]:
        return self._result.width

    @property
    def height(self) -> Optional[int]:
        return self._result.height

    @property
    def url(self) -> Optional[str]:
        """The signed download URL (a capability: log it no more than a password)."""
        return self._result.url

    @property
    def expires_at(self) -> Optional[datetime]:
        return self._result.expires_at

    @property
    def alt_text(self) -> Optional[str]:
        return self._result.alt_text

    @property
    def seo_name(self) -> Optional[str]:
        return self._result.seo_name

    @property
    def path(self) -> Optional[Path]:
        """The file the compress saved the result to (with ``output_dir``), or ``None``."""
        return self._result.path

    @property
    def savings(self) -> Optional[float]:
        """The fraction saved, ``1 - size / original_size``."""
        return self._result.savings

    @property
    def result(self) -> Result:
        """The same outcome as a :class:`fluximage.Result` (its methods block)."""
        return self._result

    async def read(self, *, progress: Optional[ProgressCallback] = None) -> bytes:
        """Downloads the optimized image into memory, like :meth:`fluximage.Result.read`.
        ``progress`` is called on the event loop."""
        r = self._result
        return await self._client._call(lambda: r.read(progress=progress), progress)

    async def save(self, path: StrPath, *, progress: Optional[ProgressCallback] = None) -> Path:
        """Downloads the optimized image to ``path`` (a file, or a folder where the file is
        named after the result) and returns the path written, like
        :meth:`fluximage.Result.save`. ``progress`` is called on the event loop."""
        r = self._result
        return await self._client._call(lambda: r.save(path, progress=progress), progress)

    def __repr__(self) -> str:
        return f"<fluximage.aio.AsyncResult {self._result!r}>"


class AsyncBatch(Sequence[AsyncResult]):
    """The outcome of :meth:`AsyncClient.compress`: one :class:`AsyncResult` per input, in
    order, plus ``session_id`` and ``raw_json``. Close it (or use ``with``) to free it early."""

    def __init__(self, batch: Batch, client: "AsyncClient") -> None:
        self._batch = batch
        self._results = [AsyncResult(r, client) for r in batch]
        self.session_id: Optional[str] = batch.session_id
        self.raw_json: str = batch.raw_json

    @property
    def batch(self) -> Batch:
        """The same outcome as a :class:`fluximage.Batch` (its methods block)."""
        return self._batch

    def __len__(self) -> int:
        return len(self._results)

    @overload
    def __getitem__(self, i: int) -> AsyncResult: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[AsyncResult]: ...

    def __getitem__(self, i: Union[int, slice]) -> Union[AsyncResult, Sequence[AsyncResult]]:
        return self._results[i]

    def __iter__(self) -> Iterator[AsyncResult]:
        return iter(self._results)

    @property
    def ok(self) -> bool:
        """Whether every image was optimized."""
        return self._batch.ok

    @property
    def failed(self) -> List[AsyncResult]:
        """The results whose image failed."""
        return [r for r in self._results if not r.ok]

    def close(self) -> None:
        """Frees the batch; its results can then no longer be read or saved."""
        self._batch.close()

    def __enter__(self) -> "AsyncBatch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<fluximage.aio.AsyncBatch {len(self)} results, {len(self.failed)} failed>"


class AsyncClient:
    """A :class:`fluximage.Client` for asyncio. Arguments are those of ``Client``, plus:

    Args:
        max_workers: calls running at once, each on a thread of the client's pool (default
            ``concurrency + 2``, i.e. 4: as many as the connection pool keeps alive). More
            calls wait in a queue without blocking the event loop; all share one connection
            pool.

    Use ``async with AsyncClient(...) as client:`` or ``await client.aclose()``. One client
    may serve any number of tasks, on one event loop or several.
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
        max_workers: Optional[int] = None,
    ) -> None:
        if max_workers is None:
            # The library keeps concurrency + 2 idle connections per host: with no more
            # workers than that, every call finds a kept-alive connection.
            max_workers = (2 if concurrency is None else max(1, concurrency)) + 2
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise _lib_invalid(f"max_workers must be a positive whole number (got {max_workers!r})")
        agent = "asyncio" + (f" {user_agent}" if user_agent else "")
        self._client = _Core(
            api_key,
            base_url=base_url,
            timeout=timeout,
            proxy=proxy,
            ca_file=ca_file,
            retries=retries,
            concurrency=concurrency,
            user_agent=agent,
        )
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="fluximage-aio"
        )
        self._live: Set[_Ticket] = set()
        self._live_lock = threading.Lock()
        # A forgotten client's idle threads end with it (the core client has its own finalizer).
        weakref.finalize(self, self._pool.shutdown, wait=False)

    # ----- lifetime ----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the client was closed."""
        return self._client.closed

    async def aclose(self) -> None:
        """Cancels calls still running, waits until the pool's threads have ended, and closes
        the client's connections. Calling it twice is harmless."""
        self._stop()
        loop = asyncio.get_running_loop()
        ended: "asyncio.Future[None]" = loop.create_future()

        def join() -> None:
            self._pool.shutdown(wait=True)
            try:
                loop.call_soon_threadsafe(_set_done, ended)
            except RuntimeError:
                pass

        # Joined on a thread of its own: the loop must not block, and the loop's default
        # executor would leave a thread behind.
        threading.Thread(target=join, name="fluximage-aio-close", daemon=True).start()
        await asyncio.shield(ended)
        self._client.close()

    def close(self) -> None:
        """Like :meth:`aclose` without waiting: running calls are cancelled, the pool's threads
        end on their own, and the connections close when the last call has let go."""
        self._stop()
        self._pool.shutdown(wait=False)
        self._client.close()

    def _stop(self) -> None:
        with self._live_lock:
            live = list(self._live)
        for ticket in live:
            ticket.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<fluximage.aio.AsyncClient {'closed' if self.closed else 'open'}>"

    # ----- running a call ----------------------------------------------------------------------

    async def _call(self, fn: Callable[[], T], progress: Optional[ProgressCallback]) -> T:
        """Runs ``fn`` (blocking ``Client`` code) on the pool; cancelling the awaiting task
        stops its C call through the ticket."""
        loop = asyncio.get_running_loop()
        ticket = _Ticket(loop, progress)
        try:
            work = self._pool.submit(_in_worker, ticket, fn)
        except RuntimeError:
            raise _lib_invalid("the client is closed") from None
        with self._live_lock:
            self._live.add(ticket)
        done = asyncio.wrap_future(work, loop=loop)
        done.add_done_callback(_retrieve)
        try:
            try:
                value = await asyncio.shield(done)
            except asyncio.CancelledError:
                if done.cancelled():  # not this task: the client closed before the call began
                    raise CancelledError(
                        "cancelled: the client was closed", status=_lib.FLX_CANCELLED
                    ) from None
                if not done.done():
                    ticket.cancel()
                    if not work.cancel():
                        # Running: the library ends the call within one tick (50 ms). Waiting
                        # for it means no transfer outlives the task.
                        await asyncio.wait({done})
                raise
            except CancelledError:
                if ticket.error is not None:  # the progress callback stopped it
                    raise ticket.error from None
                raise
        finally:
            with self._live_lock:
                self._live.discard(ticket)
        return value

    # ----- the API -----------------------------------------------------------------------------

    async def compress(
        self,
        inputs: Union[Input, Iterable[Input]],
        *,
        format: Format = "webp",
        quality: int = 82,
        max_width: Optional[int] = None,
        max_height: Optional[int] = None,
        session_id: Optional[str] = None,
        watermark: Union[Watermark, StrPath, None] = None,
        alt_text: bool = False,
        seo_rename: bool = False,
        progress: Optional[ProgressCallback] = None,
        output_dir: Optional[StrPath] = None,
        exists: Exists = "error",
    ) -> AsyncBatch:
        """Compresses images; arguments and errors as :meth:`fluximage.Client.compress`
        (``output_dir`` saves each result into that folder during the call).
        Returns an :class:`AsyncBatch`. ``progress(done, total)`` is called on the event loop."""
        items: Union[Input, List[Input]] = (
            inputs
            if isinstance(inputs, (str, bytes, bytearray, memoryview, os.PathLike, NamedBytes))
            else list(inputs)  # consumed here, on the loop, not on a worker thread
        )
        client = self._client

        def run() -> Batch:
            return client.compress(
                items,
                format=format,
                quality=quality,
                max_width=max_width,
                max_height=max_height,
                session_id=session_id,
                watermark=watermark,
                alt_text=alt_text,
                seo_rename=seo_rename,
                progress=progress,
                output_dir=output_dir,
                exists=exists,
            )

        return AsyncBatch(await self._call(run, progress), self)

    async def compress_file(
        self,
        src: StrPath,
        dst: StrPath,
        *,
        format: Format = "webp",
        quality: int = 82,
        max_width: Optional[int] = None,
        max_height: Optional[int] = None,
        session_id: Optional[str] = None,
        watermark: Union[Watermark, StrPath, None] = None,
        alt_text: bool = False,
        seo_rename: bool = False,
        progress: Optional[ProgressCallback] = None,
    ) -> Path:
        """Compresses the file ``src`` into ``dst`` (written atomically); returns ``dst``.
        As :meth:`fluximage.Client.compress_file`."""
        client = self._client

        def run() -> Path:
            return client.compress_file(
                src,
                dst,
                format=format,
                quality=quality,
                max_width=max_width,
                max_height=max_height,
                session_id=session_id,
                watermark=watermark,
                alt_text=alt_text,
                seo_rename=seo_rename,
                progress=progress,
            )

        return await self._call(run, progress)

    async def sync(
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
        on_event: Optional[EventCallback] = None,
        progress: Optional[ProgressCallback] = None,
    ) -> SyncReport:
        """Compresses every image under the folder ``src`` into the mirrored tree under
        ``out``, sending only what is new or changed; arguments, report and errors as
        :meth:`fluximage.Client.sync`. ``on_event`` (the plan, then one event per file) and
        ``progress`` are called on the event loop; ``on_event`` returning False cancels."""
        client = self._client

        def run() -> SyncReport:
            return client.sync(
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

        return await self._call(run, progress)

    async def usage(self) -> Usage:
        """The key's plan and credits (``GET /api/usage``), as :meth:`fluximage.Client.usage`."""
        return await self._call(self._client.usage, None)


def _set_done(f: "asyncio.Future[None]") -> None:
    if not f.done():
        f.set_result(None)


def _lib_invalid(message: str) -> Error:
    return make_error(_lib.FLX_INVALID_ARGUMENT, message)
