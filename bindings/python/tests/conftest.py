"""Fixtures: the emulator (a real local Fluximage-compatible server) on a free port."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[3]
EMULATOR = Path(
    os.environ.get("FLUXIMAGE_EMULATOR") or REPO / "target" / "release" / "fluximage-emulator"
)

FREE_KEY = "flx_live_2d66ab250124b9f72713a4575147eca36d2adb18"
STARTER_KEY = "flx_live_779cc5409832a78cdfe6728ad20b037afae98d3d"
PRO_KEY = "flx_live_2013767e3acf3d24ae00e76a837e420c6e23a065"
AGENCY_KEY = "flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3"
#: Well-formed keys the emulator is told about through --keys and --rolled.
EXHAUSTED_KEY = "flx_live_" + "e0" * 20  # free plan, all 20 compressions used
NO_AI_KEY = "flx_live_" + "a1" * 20  # starter plan, all 200 AI credits used
ROLLED_KEY = "flx_live_" + "b2" * 20  # rolled in the dashboard: 401
UNKNOWN_KEY = "flx_live_" + "0" * 40  # well-formed but unknown: 401

EXTRA_ACCOUNTS = [
    {
        "key": EXHAUSTED_KEY,
        "plan": "free",
        "compressor_used": 20,
        "ia_credits_used": 0,
        "ia_topup_credits": 0,
    },
    {
        "key": NO_AI_KEY,
        "plan": "starter",
        "compressor_used": 0,
        "ia_credits_used": 200,
        "ia_topup_credits": 0,
    },
]


@dataclass
class Emulator:
    """A running fluximage-emulator."""

    proc: "subprocess.Popen[bytes]"
    base_url: str
    download_url: str = ""
    ca_file: Optional[str] = None
    lines: List[str] = field(default_factory=list)

    def control(self, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        data = json.dumps(body or {}).encode()
        method = "GET" if path == "stats" else "POST"
        req = urllib.request.Request(
            f"{self.base_url}/__control/{path}",
            data=None if method == "GET" else data,
            headers={"Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def fault(self, mode: str, *, count: int = 1, path: str = "compress", **extra: Any) -> None:
        """Queues `count` faults of `mode` for requests to `path`."""
        self.control("fault", {"mode": mode, "count": count, "path": path, **extra})

    def reset(self) -> None:
        self.control("reset")

    def stats(self) -> Any:
        return self.control("stats")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_emulator(*args: str, tmp: Optional[Path] = None) -> Emulator:
    """Starts the emulator on free ports and waits (at most 30 s) until it says it listens."""
    if not EMULATOR.is_file():
        pytest.fail(f"the emulator is not built at {EMULATOR}: run `make emulator`")
    argv = [str(EMULATOR), "--listen", "127.0.0.1:0", *args]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    want = 4 if "--tls" in args else 3
    lines: List[str] = []
    buf = b""
    deadline = time.monotonic() + 30
    while len(lines) < want:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"the emulator did not start ({argv}); it printed {lines!r}")
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                continue
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                lines.append(line.decode())
    emu = Emulator(proc=proc, base_url="", lines=lines)
    for line in lines:
        if line.startswith("listening on "):
            emu.base_url = line.split()[-1]
        elif line.startswith("download on "):
            emu.download_url = line.split()[-1]
        elif line.startswith("ca file "):
            emu.ca_file = line[len("ca file ") :]
    assert emu.base_url, lines
    return emu


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    keys = tmp_path_factory.mktemp("keys") / "keys.json"
    keys.write_text(json.dumps(EXTRA_ACCOUNTS))
    emu = start_emulator("--control", "--keys", str(keys), "--rolled", ROLLED_KEY)
    yield emu
    emu.stop()


@pytest.fixture
def emu(emulator: Emulator) -> Emulator:
    """The shared emulator, with faults, statistics and accounts reset."""
    emulator.reset()
    return emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[Any]:
    """An Agency client on the emulator, with retries off so faults show directly."""
    import fluximage

    with fluximage.Client(AGENCY_KEY, base_url=emu.base_url, retries=0) as c:
        yield c
