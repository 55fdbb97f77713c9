"""Progress callbacks, cancellation, and Ctrl-C."""

from __future__ import annotations

import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import List, Tuple

import pytest

import fluximage
from conftest import AGENCY_KEY, Emulator
from images import png


def test_progress_runs_on_the_calling_thread(client: fluximage.Client, emu: Emulator) -> None:
    emu.fault("stall", delay_ms=600)  # the server thinks for a while: several ticks
    calls: List[Tuple[int, int, int]] = []
    src = png(64, 64)
    batch = client.compress(
        src, progress=lambda done, total: calls.append((threading.get_ident(), done, total))
    )
    assert batch.ok
    assert len(calls) >= 2
    assert {t for t, _, _ in calls} == {threading.get_ident()}
    # Issue 12.8: while the server thinks, the same figures are not reported again and again.
    figures = [(d, t) for _, d, t in calls]
    assert all(a != b for a, b in zip(figures, figures[1:])), figures
    _, done, total = calls[-1]
    assert total > len(src) and done == total  # the whole multipart body went out
    assert [d for _, d, _ in calls] == sorted(d for _, d, _ in calls)


def test_progress_of_a_download(client: fluximage.Client, tmp_path: Path) -> None:
    r = client.compress(png(), format="png")[0]
    seen: List[Tuple[int, int]] = []
    r.save(tmp_path / "x.png", progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1][0] == r.size
    seen.clear()
    data = r.read(progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1][0] == len(data)


def test_exception_in_progress_cancels_and_is_reraised(
    client: fluximage.Client, emu: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    emu.fault("stall", delay_ms=5000)

    class Stop(Exception):
        pass

    def progress(done: int, total: int) -> None:
        raise Stop("from the callback")

    start = time.monotonic()
    with pytest.raises(Stop, match="from the callback"):
        client.compress(png(), progress=progress)
    assert time.monotonic() - start < 1.5
    err = capfd.readouterr().err
    assert "Exception ignored" not in err and "Traceback" not in err
    # The client is still usable afterwards.
    assert client.compress(png()).ok


def test_progress_returning_false_cancels(client: fluximage.Client, emu: Emulator) -> None:
    emu.fault("stall", delay_ms=5000)
    start = time.monotonic()
    calls = []

    def progress(done: int, total: int) -> bool:
        calls.append(done)
        return done < total  # stop once the upload is out and the server is stalling

    with pytest.raises(fluximage.CancelledError):
        client.compress(png(), progress=progress)
    assert len(calls) == 2 and calls[0] == 0
    assert time.monotonic() - start < 1.5
    # A stalled answer that was cancelled charged nothing.
    assert emu.stats()["credits"].get(AGENCY_KEY, {"compress": 0})["compress"] == 0


def test_progress_returning_none_or_true_goes_on(client: fluximage.Client, emu: Emulator) -> None:
    emu.fault("stall", delay_ms=300)
    assert client.compress(png(), progress=lambda d, t: None).ok
    assert client.compress(png(), progress=lambda d, t: True).ok


CHILD = textwrap.dedent(
    """
    import sys, time, fluximage
    sys.path.insert(0, {tests!r})
    from images import png
    client = fluximage.Client({key!r}, base_url={base!r}, retries=0)
    what = {what!r}
    print("ready", flush=True)
    start = time.monotonic()
    try:
        if what == "compress":
            client.compress(png())
        elif what == "compress-progress":
            client.compress(png(), progress=lambda done, total: None)
        elif what == "usage":
            client.usage()
        elif what == "compress-wakeup":
            # An asyncio loop's wakeup fd, say: the call must keep it, and still stop on Ctrl-C.
            import signal, socket
            mine, _ = socket.socketpair()
            mine.setblocking(False)
            signal.set_wakeup_fd(mine.fileno())
            try:
                client.compress(png())
            finally:
                if signal.set_wakeup_fd(-1) == mine.fileno():
                    print("wakeup fd kept", flush=True)
        elif what == "compress-handler":
            # A SIGINT handler that returns: the call starts again (PEP 475) and succeeds.
            import signal
            seen = []
            signal.signal(signal.SIGINT, lambda *_: seen.append(1))
            batch = client.compress(png())
            print("handled %d, ok %s" % (len(seen), batch.ok), flush=True)
        elif what == "compress-storm":
            # Signal after signal whose handler returns: the call gives up after a few restarts.
            import signal
            signal.signal(signal.SIGINT, lambda *_: None)
            try:
                client.compress(png())
            except fluximage.CancelledError as e:
                print("gave up: %s" % e, flush=True)
    except KeyboardInterrupt:
        print("interrupted after %.2f s" % (time.monotonic() - start), flush=True)
        raise
    print("finished without interruption", flush=True)
    """
)


def _interrupt_child(emu: Emulator, what: str) -> Tuple[str, str, float, int]:
    """Runs CHILD doing `what` against a stalled answer, sends it SIGINT inside the stall;
    returns its stdout, stderr, the seconds it took to end after the signal, and its status."""
    path = "usage" if what == "usage" else "compress"
    emu.fault("stall", delay_ms=20000, path=path)
    code = CHILD.format(
        tests=str(Path(__file__).parent), key=AGENCY_KEY, base=emu.base_url, what=what
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 30)
        assert ready, "the child did not start"
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.7)  # well inside the 20 s stall
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return out, err, elapsed, child.returncode


@pytest.mark.parametrize("what", ["compress", "compress-progress", "usage", "compress-wakeup"])
def test_ctrl_c_stops_a_long_call(emu: Emulator, what: str) -> None:
    out, err, elapsed, returncode = _interrupt_child(emu, what)
    assert "interrupted after" in out, (out, err)
    assert elapsed < 2.0, f"the child took {elapsed:.2f} s to stop after SIGINT"
    assert err.rstrip().endswith("KeyboardInterrupt"), err
    assert "Exception ignored" not in err
    assert returncode == -signal.SIGINT  # Python's exit after an uncaught KeyboardInterrupt
    if what.startswith("compress"):
        # The interrupted call closed its connection: the stalled answer charged nothing.
        assert emu.stats()["credits"].get(AGENCY_KEY, {"compress": 0})["compress"] == 0
    if what == "compress-wakeup":
        assert "wakeup fd kept" in out, (out, err)


def test_a_sigint_handler_that_returns_lets_the_call_start_again(emu: Emulator) -> None:
    out, err, _, returncode = _interrupt_child(emu, "compress-handler")
    assert returncode == 0, (out, err)
    assert "handled 1, ok True" in out, (out, err)


def test_a_signal_storm_ends_the_call_instead_of_restarting_it_for_ever(emu: Emulator) -> None:
    emu.fault("stall", delay_ms=20000, count=30)
    code = CHILD.format(
        tests=str(Path(__file__).parent), key=AGENCY_KEY, base=emu.base_url, what="compress-storm"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 30)
        assert ready and child.stdout.readline().strip() == "ready"
        for _ in range(40):  # bounded: the child gives up after 11
            time.sleep(0.3)  # the restarted call is stalled again by now
            if child.poll() is not None:
                break
            child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert "gave up: cancelled: interrupted by 11 signals" in out, (out, err)
    assert child.returncode == 0, err


def test_calls_leave_the_wakeup_fd_as_they_found_it(client: fluximage.Client) -> None:
    assert threading.current_thread() is threading.main_thread()
    assert client.compress(png()).ok
    assert signal.set_wakeup_fd(-1) == -1  # none before, none after
    theirs, other = socket.socketpair()
    with theirs, other:
        theirs.setblocking(False)
        signal.set_wakeup_fd(theirs.fileno())
        try:
            batch = client.compress(png())
            assert batch[0].read()
        finally:
            assert signal.set_wakeup_fd(-1) == theirs.fileno()


def test_tick_runs_while_the_server_works_and_can_cancel(
    client: fluximage.Client, emu: Emulator
) -> None:
    emu.fault("stall", delay_ms=3000)
    ticks: List[int] = []

    def tick() -> bool:
        ticks.append(threading.get_ident())
        return len(ticks) < 6

    start = time.monotonic()
    with pytest.raises(fluximage.CancelledError, match="tick"):
        client.compress(png(), tick=tick)
    assert time.monotonic() - start < 1.5
    assert len(ticks) == 6 and set(ticks) == {threading.get_ident()}
