"""fluximage.aio.AsyncClient against the emulator: results as with Client, a responsive event
loop under load, progress on the loop, and cancellation that leaves nothing behind."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, List, Tuple, TypeVar

import pytest

import fluximage
import readme
from conftest import AGENCY_KEY, EMULATOR
from fluximage.aio import AsyncBatch, AsyncClient
from fluximage.testing import Emulator
from images import png, sniff

T = TypeVar("T")


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """An emulator of the test's own: answers still stalled when a test ends (and charged then,
    while the client keeps its connection) cannot reach into the next test."""
    with Emulator(binary=str(EMULATOR)) as e:
        yield e


def run(coro: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(coro())  # type: ignore[arg-type]


def client(emu: Emulator, **kw: Any) -> AsyncClient:
    kw.setdefault("retries", 0)
    return AsyncClient(AGENCY_KEY, base_url=emu.base_url, **kw)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].rstrip("/"))


def open_connections(port: int) -> int:
    """This process's established TCP connections to ``port`` on loopback (Linux /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    n = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            remote, state, inode = f[2], f[3], f[9]
            if state == "01" and inode in inodes and int(remote.rsplit(":", 1)[1], 16) == port:
                n += 1
    return n


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def aio_threads() -> List[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("fluximage-aio")]


def wait_until(check: Callable[[], bool], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_compress_save_read_and_usage(emu: Emulator, tmp_path: Path) -> None:
    src = tmp_path / "cat.png"
    src.write_bytes(png(40, 30, seed=3))
    (tmp_path / "out").mkdir()

    async def main() -> Tuple[AsyncBatch, Path, bytes, fluximage.Usage, Path]:
        async with client(emu) as c:
            batch = await c.compress([src, fluximage.NamedBytes("broken.png", b"not a png")])
            saved = await batch[0].save(tmp_path / "out")
            data = await batch[0].read()
            usage = await c.usage()
            written = await c.compress_file(src, tmp_path / "file.avif", format="avif")
            return batch, saved, data, usage, written

    batch, saved, data, usage, written = run(main)
    assert [r.ok for r in batch] == [True, False]
    assert batch[0].name == "cat.webp" and batch[0].width == 40
    assert isinstance(batch[1].error, fluximage.ServerError)
    assert saved == tmp_path / "out" / "cat.webp" and sniff(saved.read_bytes()) == "webp"
    assert data == saved.read_bytes()
    assert usage.plan == "agency" and usage.compressions_used == 1
    assert sniff(written.read_bytes()) == "avif"
    assert emu.stats().charged == 2


def test_compress_into_a_folder(emu: Emulator, tmp_path: Path) -> None:
    src = tmp_path / "dog.png"
    src.write_bytes(png(20, 20, seed=4))

    async def main() -> AsyncBatch:
        async with client(emu) as c:
            return await c.compress([src], output_dir=tmp_path / "into", exists="rename")

    batch = run(main)
    assert batch[0].path == tmp_path / "into" / "dog.webp"
    assert sniff(batch[0].path.read_bytes()) == "webp"


def test_errors_are_the_same_exceptions_as_client(emu: Emulator) -> None:
    async def main() -> None:
        async with AsyncClient("flx_live_" + "0" * 40, base_url=emu.base_url) as c:
            await c.usage()

    with pytest.raises(fluximage.AuthenticationError):
        run(main)
    with pytest.raises(fluximage.InvalidArgumentError, match="max_workers"):
        AsyncClient(AGENCY_KEY, base_url=emu.base_url, max_workers=0)


def test_200_concurrent_compresses_keep_the_loop_ticking(emu: Emulator) -> None:
    images = [fluximage.NamedBytes(f"img-{i}.png", png(16, 12, seed=i)) for i in range(200)]
    gaps: List[float] = []

    async def main() -> List[AsyncBatch]:
        stop = asyncio.Event()

        async def ticker() -> None:
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        tick = asyncio.ensure_future(ticker())
        async with client(emu) as c:
            try:
                return await asyncio.gather(*(c.compress(img) for img in images))
            finally:
                stop.set()
                await tick

    started = time.monotonic()
    batches = run(main)
    elapsed = time.monotonic() - started
    assert all(b.ok and len(b) == 1 for b in batches)
    assert [b[0].name for b in batches] == [f"img-{i}.webp" for i in range(200)]
    stats = emu.stats()
    assert stats.charged == 200
    # One client, one connection pool: a handful of connections for 200 requests.
    # One shared pool: about one connection per worker (4 by default), not one per call; a
    # connection may be opened while another is being handed back.
    assert stats.connections["api"] <= 8, stats.connections
    # The loop never waited on a call: it ticked all along, never stalling for long.
    assert len(gaps) >= elapsed / 0.05, (len(gaps), elapsed)
    assert max(gaps) < 0.25, max(gaps)


def test_progress_runs_on_the_event_loop(emu: Emulator) -> None:
    emu.fault("stall", delay_ms=400)
    seen: List[Tuple[int, int, int]] = []

    async def main() -> int:
        loop_thread = threading.get_ident()
        async with client(emu) as c:
            await c.compress(
                fluximage.NamedBytes("p.png", png(32, 32)),
                progress=lambda done, total: seen.append((threading.get_ident(), done, total)),
            )
        return loop_thread

    loop_thread = run(main)
    assert len(seen) >= 3, seen  # ticks while the answer is held, plus the final report
    assert {t for t, _, _ in seen} == {loop_thread}
    assert seen[-1][1] == seen[-1][2] > 0


def test_progress_returning_false_or_raising_stops_the_call(emu: Emulator) -> None:
    async def main(progress: Callable[[int, int], Any]) -> float:
        emu.fault("stall", delay_ms=5000)
        async with client(emu) as c:
            started = time.monotonic()
            try:
                await c.compress(fluximage.NamedBytes("p.png", png(8, 8)), progress=progress)
            finally:
                took = time.monotonic() - started
        return took

    with pytest.raises(fluximage.CancelledError, match="progress callback returned False"):
        run(lambda: main(lambda d, t: False))

    def boom(done: int, total: int) -> None:
        raise LookupError("from progress")

    started = time.monotonic()
    with pytest.raises(LookupError, match="from progress"):
        run(lambda: main(boom))
    assert time.monotonic() - started < 2


def test_cancel_ends_a_stalled_call_within_100_ms(emu: Emulator) -> None:
    emu.fault("stall", delay_ms=5000)

    async def main() -> float:
        async with client(emu) as c:
            task = asyncio.ensure_future(c.compress(fluximage.NamedBytes("s.png", png(8, 8))))
            loop = asyncio.get_running_loop()
            assert await loop.run_in_executor(None, wait_for_requests, emu, 1)
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return time.monotonic() - started

    took = run(main)
    # About 100 ms: the library checks its cancel flag every 50 ms (margin for a busy machine).
    assert took < 0.2, took


def wait_for_requests(emu: Emulator, n: int) -> bool:
    """Blocks (briefly) until the emulator has received ``n`` compress requests."""
    return wait_until(lambda: emu.stats().requests["compress"] >= n, 10)


async def cancel_in_flight(emu: Emulator, n: int, delay_ms: int) -> float:
    """Starts ``n`` stalled compresses on ``n`` workers, cancels them all once the emulator has
    them, and returns how long the tasks took to end."""
    emu.fault("stall", count=n, delay_ms=delay_ms)
    async with client(emu, max_workers=n) as c:
        tasks = [
            asyncio.ensure_future(c.compress(fluximage.NamedBytes(f"{i}.png", png(8, 8))))
            for i in range(n)
        ]
        loop = asyncio.get_running_loop()
        got = await loop.run_in_executor(None, wait_for_requests, emu, n)
        assert got, emu.stats().requests
        assert len(aio_threads()) == n
        started = time.monotonic()
        for t in tasks:
            t.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        took = time.monotonic() - started
        assert all(isinstance(o, asyncio.CancelledError) for o in outcomes), outcomes
    return took


def test_cancelling_50_in_flight_tasks_leaves_no_thread_behind(emu: Emulator) -> None:
    before = os_threads()
    took = asyncio.run(cancel_in_flight(emu, 50, delay_ms=1500))
    assert took < 0.5, took
    assert aio_threads() == []  # the client's pool ended with the client
    # The library's own workers are kept idle for 10 s after a call, then end.
    assert wait_until(lambda: os_threads() <= before + 1, 25), (os_threads(), before)


def test_cancelling_50_in_flight_tasks_closes_their_connections_unbilled(emu: Emulator) -> None:
    asyncio.run(cancel_in_flight(emu, 50, delay_ms=3000))
    port = port_of(emu.base_url)
    assert wait_until(lambda: open_connections(port) == 0, 1.0), open_connections(port)
    time.sleep(3.5)  # until the emulator would have answered the stalled requests
    stats = emu.stats()
    assert stats.charged == 0
    assert stats.abandoned == 50, stats


def test_closing_the_client_cancels_its_calls(emu: Emulator) -> None:
    emu.fault("stall", count=2, delay_ms=5000)

    async def main() -> List[Any]:
        c = client(emu, max_workers=1)
        first = asyncio.ensure_future(c.compress(b"\x89PNG first"))
        queued = asyncio.ensure_future(c.compress(b"\x89PNG second"))
        await asyncio.sleep(0.2)
        await c.aclose()
        outcomes = await asyncio.gather(first, queued, return_exceptions=True)
        with pytest.raises(fluximage.InvalidArgumentError, match="closed"):
            await c.usage()
        return outcomes

    started = time.monotonic()
    outcomes = run(main)
    assert time.monotonic() - started < 2
    assert all(isinstance(o, fluximage.CancelledError) for o in outcomes), outcomes
    assert aio_threads() == []


def test_the_readme_asyncio_example_runs(emu: Emulator, tmp_path: Path) -> None:
    (script,) = readme.blocks("asyncio")
    (tmp_path / "example.py").write_text(script)
    (tmp_path / "photo.png").write_bytes(png(30, 20, seed=1))
    (tmp_path / "logo.png").write_bytes(png(16, 16, seed=2))
    env = dict(os.environ, FLUXIMAGE_API_KEY=AGENCY_KEY, FLUXIMAGE_BASE_URL=emu.base_url)
    out = subprocess.run(
        [sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:2] == ["photo.webp", "logo.webp"]
    assert lines[2].startswith("Usage(plan='agency', compressions_used=2")
    assert sniff((tmp_path / "photo.webp").read_bytes()) == "webp"


def test_a_forgotten_client_leaves_no_thread(emu: Emulator) -> None:
    async def main() -> None:
        c = client(emu)
        await c.usage()
        assert aio_threads() != []

    run(main)
    gc.collect()
    assert wait_until(lambda: aio_threads() == [], 5), aio_threads()


def test_sync_runs_on_the_pool_with_its_events_on_the_loop(emu: Emulator, tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    for i, name in enumerate(["a.png", "x/b.png", "x/y/c.png"]):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(png(24, 16, seed=i))
    seen: List[Any] = []
    threads = set()

    def on_event(e: Any) -> None:
        threads.add(threading.get_ident())
        seen.append(e)

    async def main() -> Tuple[int, fluximage.SyncReport, fluximage.SyncReport]:
        async with client(emu) as c:
            first = await c.sync(src, out, on_event=on_event)
            again = await c.sync(src, out)
            return threading.get_ident(), first, again

    loop_thread, first, again = run(main)
    assert (first.compressed, first.failed, first.credits_spent) == (3, 0, 3)
    assert threads == {loop_thread}, "on_event runs on the event loop"
    assert isinstance(seen[0], fluximage.SyncPlan) and seen[0].to_compress == 3
    assert sorted(e.input for e in seen[1:]) == ["a.png", "x/b.png", "x/y/c.png"]
    assert sniff((out / "x/y/c.webp").read_bytes()) == "webp"
    assert (again.up_to_date, again.compressed, again.requests) == (3, 0, 0)

    async def refuse() -> None:
        async with client(emu) as c:
            await c.sync(src, tmp_path / "elsewhere", on_event=lambda e: False)

    with pytest.raises(fluximage.CancelledError, match="on_event"):
        run(refuse)
    assert emu.stats().charged == 3  # the plan was refused: nothing sent
