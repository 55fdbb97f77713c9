#!/usr/bin/env python3
"""Runs every code block of the READMEs, so that their examples cannot rot (`make readme-test`).

    scripts/readme-blocks.py README.md bindings/python/README.md bindings/go/README.md

Each fenced block is handled by its language, in a scratch folder holding sample images
(cat.jpg, dog.png, photo.png, logo.png, in.jpg, photo.jpg), against the bundled emulator:

  c        a program with main(): compiled with -Wall -Wextra -Werror through pkg-config and
           run (exit status 0 expected); a fragment: compiled inside a main() that declares
           `flx_status st` and `flx_client *client`
  python   run with $PYTHON (the test venv, where the package is installed); a block runs with
           `client` (a fluximage.Client) and `paths` predefined
  go       built in a module that uses bindings/go; a fragment (no `package` line) is built
           inside func main() with `err` declared
  sh       checked with `sh -n`; run in the scratch folder when marked `run`

A block that cannot run this way carries a marker on the line just above its fence, which
this script honours:

  <!-- readme-test: skip: REASON -->     not run (say why)
  <!-- readme-test: run -->              (sh) run it, with the last C program above as app.c;
                                         `run static` also checks that ./app does not need
                                         libfluximage.so

An unmarked block in a language above runs; any other unmarked block is an error. Needs
EMULATOR (the emulator binary), PYTHON, GO, and pkg-config finding fluximage.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
KEY = "flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3"  # the emulator's built-in Agency key
MARKER = re.compile(r"<!--\s*readme-test:\s*(.*?)\s*-->")
FENCE = re.compile(r"^```(\S*)\s*$")
TIMEOUT = 300

GO_IMPORTS = ["context", "errors", "fmt", "io", "log", "os", "path/filepath", "time"]
GO_USES = ["context.Background", "errors.Is", "fmt.Println", "io.Copy", "log.Fatal", "os.Exit",
           "filepath.Join", "time.Second"]


class Block:
    def __init__(self, path: Path, line: int, lang: str, text: str, marker: Optional[str]) -> None:
        self.path, self.line, self.lang, self.text, self.marker = path, line, lang, text, marker

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} ({self.lang or 'no language'})"


def blocks(path: Path) -> List[Block]:
    out: List[Block] = []
    lines = path.read_text().splitlines()
    i = 0
    # Bounded: every pass moves i forward.
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        marker = None
        if start > 0:
            mm = MARKER.search(lines[start - 1])
            marker = mm.group(1) if mm else None
        out.append(Block(path, start + 1, lang, "\n".join(lines[start + 1 : j]) + "\n", marker))
        i = j + 1
    return out


def png(width: int, height: int, seed: int) -> bytes:
    """A small photo-like RGB PNG, with the standard library only."""
    rows = b"".join(
        b"\0" + bytes(((x * 7 + y * 3 + seed * 31 + (x * y) % 13) % 256) for x in range(width * 3))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def run(cmd: List[str], cwd: Path, env: dict, what: str) -> Tuple[bool, str]:
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return False, f"{what}: timed out after {TIMEOUT} s"
    if p.returncode != 0:
        return False, f"{what} exited with {p.returncode}:\n{p.stdout}{p.stderr}"
    return True, p.stdout


def fresh_scratch(base: Path, n: int) -> Path:
    d = base / f"block-{n}"
    d.mkdir()
    for i, name in enumerate(["cat.jpg", "dog.png", "photo.png", "logo.png", "in.jpg", "photo.jpg"]):
        (d / name).write_bytes(png(48 + i, 32, i))
    return d


def c_block(b: Block, d: Path, env: dict) -> Tuple[bool, str]:
    src = b.text
    whole = re.search(r"\bint\s+main\s*\(", src) is not None
    if not whole:
        src = ("#include <fluximage.h>\n#include <stdio.h>\n\nint main(void) {\n"
               "    flx_status st = FLX_OK;\n    flx_client *client = NULL;\n    (void)client;\n"
               + src + "    return 0;\n}\n")
    (d / "app.c").write_text(src)
    if whole:
        LAST_C_PROGRAM[:] = [src]
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "fluximage"], capture_output=True,
                           text=True, env=env, check=True).stdout.split()
    ok, out = run([env.get("CC", "cc"), "-std=c11", "-Wall", "-Wextra", "-Werror", "app.c", *flags,
                   "-o", "app"], d, env, "cc")
    if not ok or not whole:
        return ok, out
    return run(["./app"], d, env, "./app")


def python_block(b: Block, d: Path, env: dict) -> Tuple[bool, str]:
    prelude = ("import fluximage, time\n"
               "client = fluximage.Client()\n"
               "paths = ['photo.png', 'logo.png']\n")
    (d / "block.py").write_text(prelude + b.text)
    return run([env["PYTHON"], "block.py"], d, env, "python")


def go_block(b: Block, d: Path, env: dict) -> Tuple[bool, str]:
    src = b.text
    if not re.search(r"^package\s", src, flags=re.M):
        imports = "\n".join(f'\t"{i}"' for i in GO_IMPORTS)
        uses = "\n".join(f"\t_ = {u}" for u in GO_USES)
        body = "\n".join("\t" + line if line else "" for line in src.splitlines())
        src = (f'package main\n\nimport (\n{imports}\n\n\tfluximage "github.com/fluximage/libfluximage/bindings/go"\n)\n\n'
               f"var (\n{uses}\n\t_ = fluximage.Version\n)\n\nfunc main() {{\n\tvar err error\n\t_ = err\n{body}\n}}\n")
    (d / "main.go").write_text(src)
    (d / "go.mod").write_text(
        "module example.com/readme\n\ngo 1.24\n\n"
        "require github.com/fluximage/libfluximage/bindings/go v0.0.0\n\n"
        f"replace github.com/fluximage/libfluximage/bindings/go => {ROOT / 'bindings/go'}\n")
    genv = dict(env, GOFLAGS="-mod=mod", GOPROXY="off", GOWORK="off")
    return run([env["GO"], "build", "-o", "app", "."], d, genv, "go build")


def sh_block(b: Block, d: Path, env: dict) -> Tuple[bool, str]:
    (d / "block.sh").write_text(b.text)
    if LAST_C_PROGRAM:
        (d / "app.c").write_text(LAST_C_PROGRAM[0])
    ok, out = run(["sh", "-n", "block.sh"], d, env, "sh -n")
    if not ok or not (b.marker or "").startswith("run"):
        return ok, out
    ok, out = run(["sh", "-e", "block.sh"], d, env, "sh")
    if ok and "static" in (b.marker or ""):
        dyn = subprocess.run(["readelf", "-d", "app"], cwd=d, capture_output=True, text=True).stdout
        if "libfluximage" in dyn:
            return False, "./app was linked to libfluximage.so, not the static archive:\n" + dyn
    return ok, out


# The last whole C program seen: a `run` sh block finds it as app.c (the README's link lines).
LAST_C_PROGRAM: List[str] = []

RUNNERS = {"c": c_block, "python": python_block, "go": go_block, "sh": sh_block}


def start_emulator(d: Path) -> Tuple[subprocess.Popen, str]:
    out = open(d / "emulator.out", "w")
    p = subprocess.Popen([os.environ["EMULATOR"], "--listen", "127.0.0.1:0"], stdout=out,
                         stderr=subprocess.DEVNULL)
    for _ in range(100):  # up to 10 s
        text = (d / "emulator.out").read_text()
        m = re.search(r"^listening on (\S+)", text, flags=re.M)
        if m:
            return p, m.group(1)
        if p.poll() is not None:
            break
        time.sleep(0.1)
    p.kill()
    sys.exit("readme-test: the emulator did not start")


def main(argv: List[str]) -> int:
    files = [Path(a).resolve() for a in argv[1:]]
    if not files:
        sys.exit(__doc__)
    work = Path(tempfile.mkdtemp(prefix="flx-readme-"))
    emu, url = start_emulator(work)
    env = dict(os.environ, FLUXIMAGE_API_KEY=KEY, FLUXIMAGE_BASE_URL=url,
               PYTHON=os.environ.get("PYTHON", sys.executable), GO=os.environ.get("GO", "go"))
    failures, count = [], 0
    try:
        for path in files:
            for b in blocks(path):
                count += 1
                if b.marker and b.marker.startswith("skip"):
                    if not b.marker.startswith("skip:") or len(b.marker) < 8:
                        failures.append(f"{b.where()}: a skip marker must say why (skip: REASON)")
                    else:
                        print(f"skip {b.where()}: {b.marker[5:].strip()}")
                    continue
                runner = RUNNERS.get(b.lang)
                if runner is None:
                    failures.append(f"{b.where()}: no way to run this block; mark it "
                                    "<!-- readme-test: skip: REASON --> or give it a language")
                    continue
                ok, out = runner(b, fresh_scratch(work, count), env)
                print(f"{'ok  ' if ok else 'FAIL'} {b.where()}")
                if not ok:
                    failures.append(f"{b.where()}:\n{out}")
    finally:
        emu.terminate()
        emu.wait()
    if failures:
        print("\nreadme-test: FAILED\n" + "\n\n".join(failures), file=sys.stderr)
        print(f"(scratch folders kept in {work})", file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print(f"readme-test: {count} blocks, all ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
