"""Test images made in code: a dependency-free PNG writer (zlib + struct)."""

from __future__ import annotations

import random
import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png(
    width: int = 64, height: int = 48, *, seed: int = 1, noise: int = 40, alpha: bool = False
) -> bytes:
    """An RGB (or RGBA) PNG: a colour gradient with some noise, so lossy settings matter."""
    rng = random.Random(seed)
    rows = []
    for y in range(height):
        row = bytearray([0])  # filter: none
        for x in range(width):
            r = (x * 255 // max(1, width - 1) + rng.randint(0, noise)) & 0xFF
            g = (y * 255 // max(1, height - 1) + rng.randint(0, noise)) & 0xFF
            b = ((x + y) * 4 + rng.randint(0, noise)) & 0xFF
            row += bytes([r, g, b, 160] if alpha else [r, g, b])
        rows.append(bytes(row))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
        + _chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    w, h = struct.unpack(">II", data[16:24])
    return w, h


def sniff(data: bytes) -> str:
    """The format of encoded image bytes: webp, avif, jpg, png, or unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis"):
        return "avif"
    return "unknown"
