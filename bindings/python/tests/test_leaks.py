"""20,000 calls in one process leave nothing behind: memory, threads, file descriptors.

The calls mix what an application does all day: compress, fetch, usage, a rejected key, and
cancels of a stalled call. They run against the emulator in pass-through mode (no image work), so the count is
high and the run short. After a warm-up (pools and worker threads reach their working size),
the bounds are:

- RSS grows by at most 16 MiB over the measured calls (under 1 KiB a call: a real leak of one
  batch, buffer or handle per call is several KiB and shows at once);
- memory traced by ``tracemalloc`` (Python objects) grows by at most 512 KiB;
- the same Python threads, at most 2 more native threads (the library's idle workers come and
  go), and the same number of open file descriptors (± the connection pool's few sockets).
"""

from __future__ import annotations

import gc
import os
import threading
import time
import tracemalloc
from typing import Iterator

import pytest

import fluximage
from conftest import AGENCY_KEY, UNKNOWN_KEY, Emulator, start_emulator
from images import png

CALLS = int(os.environ.get("FLX_LEAK_CALLS", "20000"))
WARMUP = CALLS // 10


@pytest.fixture(scope="module")
def passthrough() -> Iterator[Emulator]:
    emu = start_emulator("--encode", "none", "--control")
    yield emu
    emu.stop()


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def count(path: str) -> int:
    return len(os.listdir(path))


def test_twenty_thousand_calls_leak_nothing(passthrough: Emulator) -> None:
    image = fluximage.NamedBytes("leak.png", png(16, 16, seed=7))
    with fluximage.Client(AGENCY_KEY, base_url=passthrough.base_url, retries=0) as client, \
            fluximage.Client(UNKNOWN_KEY, base_url=passthrough.base_url, retries=0) as rejected:

        def one(i: int) -> None:
            kind = i % 4
            if i % 100 == 99:
                # A cancel while the server holds the answer (one in a hundred calls: each
                # waits for the first progress tick).
                passthrough.fault("stall", count=1, delay_ms=2000)
                with pytest.raises(fluximage.CancelledError):
                    client.compress(image, progress=lambda done, total: False)
            elif kind == 0:
                batch = client.compress(image)
                assert batch.ok
                assert batch[0].read()[:4] == b"\x89PNG"
                batch.close()
            elif kind == 1:
                assert client.usage().plan == "agency"
            elif kind == 2:
                with pytest.raises(fluximage.AuthenticationError):
                    rejected.usage()
            else:
                client.compress(image).close()

        for i in range(WARMUP):
            one(i)
        gc.collect()
        tracemalloc.start()
        traced0, _ = tracemalloc.get_traced_memory()
        rss0 = rss_bytes()
        threads0 = {t.ident for t in threading.enumerate()}
        tasks0 = count("/proc/self/task")
        fds0 = count("/proc/self/fd")

        for i in range(WARMUP, CALLS):
            one(i)
        gc.collect()

        traced1, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss1 = rss_bytes()
        # A cancelled call returns at once; its worker closes the connection and ends within
        # moments. Give the last ones up to 5 s (a leak never settles).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (
            count("/proc/self/task") - tasks0 > 2 or count("/proc/self/fd") - fds0 > 4
        ):
            time.sleep(0.05)
        growth = {
            "rss": rss1 - rss0,
            "traced": traced1 - traced0,
            "tasks": count("/proc/self/task") - tasks0,
            "fds": count("/proc/self/fd") - fds0,
        }
        print(f"{CALLS - WARMUP} calls: {growth}")
        assert growth["rss"] <= 16 << 20, growth
        assert growth["traced"] <= 512 << 10, growth
        assert {t.ident for t in threading.enumerate()} == threads0, "Python threads left behind"
        assert growth["tasks"] <= 2, growth
        assert abs(growth["fds"]) <= 4, growth
