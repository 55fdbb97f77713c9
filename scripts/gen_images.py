#!/usr/bin/env python3
"""Writes sample PNG images for the demo, with nothing but the standard library.

    python3 scripts/gen_images.py OUTDIR

Creates, deterministically (fixed seeds):
  photo-*.png    photo-like: smooth colour gradients, soft shapes and per-pixel noise, as a
                 camera would produce (compresses poorly as PNG, well in lossy formats)
  graphic-*.png  graphic: flat colours and hard-edged shapes, as a logo or chart
                 (compresses well as PNG already)
and prints one line per file: its name and size.
"""
import math
import os
import random
import struct
import sys
import zlib


def write_png(path, width, height, rows):
    """Writes an 8-bit RGB PNG; `rows` yields `height` bytes objects of width*3 bytes."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    raw = bytearray()
    for row in rows:
        raw.append(0)  # filter type 0 (None) for every scanline
        raw += row
    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    png += chunk(b"IEND", b"")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(png)
    os.replace(tmp, path)


def clamp(v):
    return 0 if v < 0 else 255 if v > 255 else int(v)


def photo_rows(width, height, seed):
    """A sky-to-ground gradient with a soft 'sun', rolling hills and sensor noise."""
    rnd = random.Random(seed)
    sun_x, sun_y = rnd.uniform(0.2, 0.8) * width, rnd.uniform(0.15, 0.4) * height
    hue = rnd.uniform(0, 2 * math.pi)
    for y in range(height):
        row = bytearray()
        t = y / max(1, height - 1)
        horizon = height * (0.6 + 0.05 * math.sin(hue))
        for x in range(width):
            hill = horizon + 18 * math.sin(x / width * 6.0 + hue) + 9 * math.sin(x / width * 17.0)
            if y < hill:  # sky
                r, g, b = 70 + 120 * t, 120 + 90 * t, 230 - 40 * t
            else:  # ground
                d = (y - hill) / max(1.0, height - hill)
                r, g, b = 60 + 50 * d, 110 - 30 * d + 25 * math.sin(x / 7.0), 40 + 20 * d
            glow = 150 * math.exp(-((x - sun_x) ** 2 + (y - sun_y) ** 2) / (2 * (0.08 * width) ** 2))
            n = rnd.gauss(0, 9)
            row += bytes((clamp(r + glow + n), clamp(g + glow * 0.9 + n), clamp(b + glow * 0.5 + n)))
        yield bytes(row)


def graphic_rows(width, height, seed):
    """Flat background, stripes, a circle and a rectangle in a few flat colours."""
    rnd = random.Random(seed)
    palette = [tuple(rnd.randrange(256) for _ in range(3)) for _ in range(4)]
    cx, cy, rad = width * 0.35, height * 0.5, min(width, height) * 0.28
    for y in range(height):
        row = bytearray()
        for x in range(width):
            if (x - cx) ** 2 + (y - cy) ** 2 <= rad * rad:
                c = palette[1]
            elif width * 0.6 <= x <= width * 0.9 and height * 0.2 <= y <= height * 0.7:
                c = palette[2]
            elif (y // 24) % 2 == 0 and y > height * 0.8:
                c = palette[3]
            else:
                c = palette[0]
            row += bytes(c)
        yield bytes(row)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_images.py OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    specs = [
        ("photo-landscape.png", 480, 320, photo_rows, 1),
        ("photo-portrait.png", 300, 400, photo_rows, 2),
        ("photo-wide.png", 640, 240, photo_rows, 3),
        ("graphic-logo.png", 320, 320, graphic_rows, 4),
        ("graphic-banner.png", 600, 160, graphic_rows, 5),
    ]
    for name, w, h, rows, seed in specs:
        path = os.path.join(out, name)
        write_png(path, w, h, rows(w, h, seed))
        print(f"{name} {os.path.getsize(path)}")


if __name__ == "__main__":
    main()
