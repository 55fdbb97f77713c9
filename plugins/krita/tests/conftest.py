"""Fixtures for the Krita plug-in's logic tests: the emulator, test images, the key.

Run by `make krita-logic-test` with PYTHONPATH holding bindings/python/src (the fluximage
package) and plugins/krita (the plug-in package), FLUXIMAGE_LIB the built library and
FLUXIMAGE_EMULATOR the emulator binary.
"""

from __future__ import annotations

import json
import os
import random
import signal
import struct
import subprocess
import tempfile
import urllib.request
import zlib
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import pytest

REPO = Path(__file__).resolve().parents[3]
EMULATOR = Path(
    os.environ.get("FLUXIMAGE_EMULATOR") or REPO / "target" / "release" / "fluximage-emulator"
)
AGENCY_KEY = "flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3"
UNKNOWN_KEY = "flx_live_" + "0123456789abcdef" * 2 + "01234567"
SPENT_KEY = "flx_live_" + "5e" * 20  # free plan, 20 of 20 compressions used
FREE_KEY = "flx_live_2d66ab250124b9f72713a4575147eca36d2adb18"  # the emulator's free plan


class Emulator:
    """A running fluximage-emulator with its control API."""

    def __init__(self, proc: "subprocess.Popen[bytes]", base_url: str) -> None:
        self.proc = proc
        self.base_url = base_url

    def control(self, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        req = urllib.request.Request(
            f"{self.base_url}/__control/{path}",
            data=json.dumps(body or {}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def stall_next_compress(self, ms: int) -> None:
        self.control("fault", {"mode": "stall", "delay_ms": ms, "path": "compress", "count": 1})


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    if not EMULATOR.is_file():
        pytest.fail(f"the emulator {EMULATOR} is missing: run `make emulator`")
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "keys.json"
        keys.write_text(json.dumps([{"key": SPENT_KEY, "plan": "free", "compressor_used": 20}]))
        proc = subprocess.Popen(
            [str(EMULATOR), "--listen", "127.0.0.1:0", "--control", "--keys", str(keys)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        if not line.startswith("listening on "):
            proc.kill()
            pytest.fail(f"the emulator did not start: {line!r}")
        try:
            yield Emulator(proc, line[len("listening on ") :])
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def api(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The environment as Krita would have it: key and base URL set; a fresh billing period."""
    monkeypatch.setenv("FLUXIMAGE_API_KEY", AGENCY_KEY)
    monkeypatch.setenv("FLUXIMAGE_BASE_URL", emulator.base_url)
    emulator.control("reset")
    return emulator


def write_png(path: Path, width: int, height: int, seed: int = 1) -> Path:
    """A photo-like 8-bit RGB PNG (gradients and noise), with the standard library only."""
    rng = random.Random(seed)
    raw = bytearray()
    for y in range(height):
        raw.append(0)
        for x in range(width):
            n = rng.randint(-24, 24)
            raw += bytes(
                (
                    max(0, min(255, x * 255 // width + n)),
                    max(0, min(255, y * 255 // height + n)),
                    max(0, min(255, 128 + (x - y) * 64 // width + n)),
                )
            )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="session")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_png(tmp_path_factory.mktemp("in") / "photo.png", 320, 240)


def magic(path: Path) -> str:
    head = path.read_bytes()[:12]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:12] in (b"ftypavif", b"ftypavis"):
        return "avif"
    if head[:3] == b"\xff\xd8\xff":
        return "jpg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return "unknown"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def leftovers(folder: Path) -> list[str]:
    """Temporary files of the library (".XXXXXXXXXXXXXXXX.flx-tmp") left in `folder`."""
    return [p.name for p in folder.iterdir() if p.name.endswith(".flx-tmp")]

