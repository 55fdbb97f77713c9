"""One client used from several threads at once runs the calls in parallel."""

from __future__ import annotations

import threading
import time
from typing import Dict, List, Tuple

import fluximage
from conftest import Emulator
from images import png


def test_two_threads_overlap(client: fluximage.Client, emu: Emulator) -> None:
    # Each request stalls 1.5 s on the server: one after the other would take 3 s or more.
    emu.fault("stall", count=2, delay_ms=1500)
    spans: Dict[str, Tuple[float, float]] = {}
    results: Dict[str, bool] = {}
    barrier = threading.Barrier(2, timeout=10)

    def work(name: str) -> None:
        barrier.wait()
        start = time.monotonic()
        results[name] = client.compress(fluximage.NamedBytes(f"{name}.png", png(seed=len(name)))).ok
        spans[name] = (start, time.monotonic())

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "bb")]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - t0
    assert results == {"a": True, "bb": True}
    (s1, e1), (s2, e2) = spans["a"], spans["bb"]
    assert max(s1, s2) < min(e1, e2), "the two calls did not overlap"
    assert min(e1 - s1, e2 - s2) >= 1.4  # both really waited for the stalled server
    assert elapsed < 2.7, f"two 1.5 s calls took {elapsed:.2f} s: they ran one after the other"


def test_many_threads_many_calls(client: fluximage.Client) -> None:
    errors: List[BaseException] = []
    names: List[List[str]] = []

    def work(i: int) -> None:
        try:
            batch = client.compress(
                [fluximage.NamedBytes(f"t{i}-{j}.png", png(16, 16, seed=j)) for j in range(3)]
            )
            names.append([r.name or "" for r in batch])
            assert batch[0].read()
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(names) == sorted([[f"t{i}-{j}.webp" for j in range(3)] for i in range(6)])
