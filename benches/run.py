#!/usr/bin/env python3
"""`make bench`: libfluximage against its peers, every comparison measured in one run.

Builds the peer programs (benches/peers, benches/go), starts the emulator on loopback, runs
each figure with repetitions, prints the tables, and writes benches/results.json and
benches/results.md (the tables in Markdown, for the README). Python 3 standard library only.

Peers, each doing the same work per round trip (a multipart upload of the same file(s) with
format=webp and quality=82, parse the JSON answer, download every signed URL) over keep-alive:
libcurl (one easy handle), Python requests.Session, Go net/http, and ours: libfluximage from C
(flx_compress + flx_batch_fetch), the Python package (compress + read) and the Go module
(Compress + WriteTo). Each peer measures its own CPU time (getrusage RUSAGE_SELF) and peak RSS
(ru_maxrss) from after its setup to the end of the work, and prints one JSON line.

Figures:
  1. per-request overhead: ROUND_TRIPS sequential round trips, 1 KB image, pass-through, HTTP
  2. the same over HTTPS (--tls), with TLS handshakes per 100 requests
  3. large uploads: one batch of 20 files of 20 MB (random bytes, pass-through)
  4. batch throughput with real encoding: 100 photo-like JPEGs -> WebP, concurrency 1, 2, 4,
     against the emulator's own capacity (a lean libcurl loader keeping it saturated)
  5. footprint: stripped libfluximage.so, its dependencies, cold release build time
  6. a WAN link (emulator shaping): 200 photos of ~300 KB, 60 ms round trip, 40/200 Mbit/s,
     150 ms of work per image 4 at a time; each client's wall time over the physical bound
  7. folder sync: an up-to-date flx_sync rerun over 10,000 files beside rsync --dry-run and
     git status; peak RSS of planning 20,000 files
plus the emulator's own pass-through capacity (emulator/examples/passthrough_bench.rs).

Repetitions are interleaved (round 1 runs every peer once, then round 2, ...), each figure is
the median with min and max, and every ratio is taken within one round, then summarised the
same way: this machine is shared and noisy.

Environment:
  BENCH_REPS=5          repetitions of figures 1 and 2 (and the pass-through capacity)
  BENCH_LONG_REPS=3     repetitions of figures 3 and 4
  BENCH_ROUND_TRIPS=5000  round trips of figures 1 and 2
  BENCH_BUILD=0         skip the cold release build (figure 5), which takes minutes
  BENCH_ONLY=1,3        run only these figures (1-7; "p" for the pass-through capacity); the
                        others are kept from the previous results file, and the tables say so
  BENCH_WAN_REPS=1      repetitions of figure 6 (about 4 minutes each)
  BENCH_KEEP_DATA=0     delete the generated inputs (build/bench/data, ~440 MB) at the end
  BENCH_LIBDIR=DIR      use DIR/libfluximage.so (and .so.0) instead of target/release's
  BENCH_PY_SRC=DIR      use the Python package in DIR instead of bindings/python/src
  BENCH_OUT=PREFIX      write PREFIX.json and PREFIX.md (default benches/results)
  PYTHON_BENCH=...      the Python with `requests` (default build/bench-venv/bin/python)
  GO=...                the Go tool (default: go on PATH, else /usr/local/go/bin/go)
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import platform
import shutil
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ROOT / "benches"
OUT = ROOT / "build" / "bench"
BIN = OUT / "bin"
DATA = OUT / "data"
TARGET = ROOT / "target" / "release"
# BENCH_LIBDIR measures another build of the library (a folder holding libfluximage.so and
# libfluximage.so.0, e.g. a patched copy) with the same peers; BENCH_PY_SRC another Python package.
LIBDIR = Path(os.environ.get("BENCH_LIBDIR") or TARGET).resolve()
LIB = LIBDIR / "libfluximage.so"
PY_SRC = Path(os.environ.get("BENCH_PY_SRC") or ROOT / "bindings" / "python" / "src").resolve()
EMULATOR = TARGET / "fluximage-emulator"
PKGCONFIG = ROOT / "build" / "pkgconfig"

KEY = "flx_live_f2e72fe8f42f0a59f65fc6a944c4a8df8dbedfd3"  # the emulator's built-in Agency key
REPS = int(os.environ.get("BENCH_REPS", "5"))  # figures 1, 2 and the pass-through capacity
LONG_REPS = int(os.environ.get("BENCH_LONG_REPS", "3"))  # figures 3 and 4
OUT_PREFIX = Path(os.environ.get("BENCH_OUT") or BENCHES / "results")
ROUND_TRIPS = int(os.environ.get("BENCH_ROUND_TRIPS", "5000"))
BUILD = os.environ.get("BENCH_BUILD", "1") != "0"
ONLY = {s.strip() for s in os.environ.get("BENCH_ONLY", "").split(",") if s.strip()}
BIG_FILES, BIG_BYTES = 20, 20 * 1024 * 1024  # 20 files of 20 MB (the API's MB: 20,971,520 bytes)
PHOTOS, PHOTO_W, PHOTO_H = 100, 1024, 683
CONCURRENCIES = (1, 2, 4)
# Figure 6, the WAN: photo-like ~300 KB JPEGs over a shaped link to a server that works 4 at a time.
WAN_PHOTOS, WAN_W, WAN_H = 200, 1500, 1000
WAN_RTT_S, WAN_UP_BPS, WAN_DOWN_BPS = 0.060, 40e6, 200e6
WAN_WORK_S, WAN_JITTER_S, WAN_ENCODERS = 0.150, 0.030, 4
WAN_CONCURRENCIES = (4,)  # besides the default (8 measured no better: 2.28× against 2.15× at 4)
WAN_DISTINCT = 40  # photos generated; the others are copies (pass-through mode only moves bytes)
WAN_REPS = int(os.environ.get("BENCH_WAN_REPS", "1"))
# Figure 7, sync: an up-to-date rerun over SYNC_FILES files in SYNC_DIRS folders; planning a bigger tree.
SYNC_FILES, SYNC_DIRS, PLAN_FILES = 10_000, 200, 20_000
LOADER_IN_FLIGHT = 4
RUN_TIMEOUT = 300

started = time.monotonic()
failures: List[str] = []


def log(msg: str) -> None:
    print(f"[{time.monotonic() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)


def want(fig: str) -> bool:
    return not ONLY or fig in ONLY


def run(cmd: Sequence[Any], **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], check=True, text=True, **kw)


def go_tool() -> str:
    if os.environ.get("GO"):
        return os.environ["GO"]
    return shutil.which("go") or "/usr/local/go/bin/go"


def bench_python() -> str:
    return os.environ.get("PYTHON_BENCH") or str(ROOT / "build" / "bench-venv" / "bin" / "python")


# ---- building ---------------------------------------------------------------------------------


def build_peers() -> None:
    for f in (TARGET / "libfluximage.so", LIB, EMULATOR, PKGCONFIG / "fluximage.pc"):
        if not f.exists():
            sys.exit(f"bench: {f} is missing: run `make lib emulator build/pkgconfig/fluximage.pc` (or `make bench`)")
    BIN.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PKG_CONFIG_PATH=f"{PKGCONFIG}:{os.environ.get('PKG_CONFIG_PATH', '')}")
    pc = lambda *a: run(["pkg-config", *a], env=env, capture_output=True).stdout.split()
    try:
        curl = pc("--cflags", "--libs", "libcurl")
    except subprocess.CalledProcessError:
        sys.exit("bench: libcurl's development files are missing (Debian: apt-get install libcurl4-openssl-dev)")
    flx_cflags, flx_libs = pc("--cflags", "fluximage"), pc("--libs", "fluximage")
    cc = os.environ.get("CC", "cc")
    warn = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-D_GNU_SOURCE"]
    peers = BENCHES / "peers"
    log("building the C peers")
    run([cc, *warn, peers / "curl_peer.c", "-o", BIN / "curl_peer", *curl])
    run([cc, *warn, *flx_cflags, peers / "flx_peer.c", "-o", BIN / "flx_peer", *flx_libs])
    run([cc, *warn, peers / "loader.c", "-o", BIN / "loader", *curl, "-lpthread"])
    run([cc, *warn, *flx_cflags, peers / "sync_peer.c", "-o", BIN / "sync_peer", *flx_libs])
    log("building the Go peers")
    go = go_tool()
    for pkg, name in (("./nethttp", "go_nethttp_peer"), ("./ours", "go_fluximage_peer"), ("./genimages", "genimages")):
        run([go, "build", "-o", BIN / name, pkg], cwd=BENCHES / "go", env=env)
    py = bench_python()
    if subprocess.run([py, "-c", "import requests"], capture_output=True).returncode != 0:
        sys.exit(f"bench: {py} cannot import requests (make bench creates build/bench-venv with it)")
    if want("p"):
        log("building the emulator's pass-through benchmark")
        run(["cargo", "build", "--release", "--locked", "--quiet", "-p", "fluximage-emulator",
             "--example", "passthrough_bench"], cwd=ROOT)


# ---- inputs -----------------------------------------------------------------------------------


def png_1k(path: Path) -> None:
    """A real 16x16 RGB PNG padded with a tEXt chunk to exactly 1,024 bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    w = h = 16
    rows = b"".join(b"\0" + bytes(((x * 16 + y * 7) ^ (x * y * 13)) & 255 for x in range(w * 3)) for y in range(h))
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    body = chunk(b"IDAT", zlib.compress(rows, 9))
    end = chunk(b"IEND", b"")
    sig = b"\x89PNG\r\n\x1a\n"
    pad = 1024 - len(sig) - len(ihdr) - len(body) - len(end) - 12
    text = chunk(b"tEXt", b"Comment\0" + b"x" * (pad - 8))
    data = sig + ihdr + text + body + end
    assert len(data) == 1024, len(data)
    path.write_bytes(data)


def make_inputs() -> Dict[str, List[str]]:
    DATA.mkdir(parents=True, exist_ok=True)
    small = DATA / "photo-1k.png"
    png_1k(small)
    inputs = {"small": [str(small)]}
    if want("3"):
        big_dir = DATA / "big"
        big_dir.mkdir(exist_ok=True)
        big = [big_dir / f"random-{i + 1:02d}.bin" for i in range(BIG_FILES)]
        if not all(p.exists() and p.stat().st_size == BIG_BYTES for p in big):
            log(f"writing {BIG_FILES} files of {BIG_BYTES} random bytes")
            for p in big:
                with open(p, "wb") as f:
                    for _ in range(BIG_BYTES // (1 << 20)):
                        f.write(os.urandom(1 << 20))
        inputs["big"] = [str(p) for p in big]
    if want("4"):
        photo_dir = DATA / f"photos-{PHOTO_W}x{PHOTO_H}"
        photos = [photo_dir / f"photo-{i + 1:03d}.jpg" for i in range(PHOTOS)]
        if not all(p.exists() for p in photos):
            log(f"generating {PHOTOS} photo-like {PHOTO_W}x{PHOTO_H} JPEGs")
            run([BIN / "genimages", "-n", PHOTOS, "-w", PHOTO_W, "-h", PHOTO_H, photo_dir])
        inputs["photos"] = [str(p) for p in photos]
    if want("6"):
        wan_dir = DATA / f"photos-{WAN_W}x{WAN_H}"
        wan = [wan_dir / f"photo-{i + 1:03d}.jpg" for i in range(WAN_PHOTOS)]
        if not all(p.exists() for p in wan):
            # Generating 200 takes minutes on 2 cores; copies of 40 cost the link the same.
            log(f"generating {WAN_DISTINCT} photo-like {WAN_W}x{WAN_H} JPEGs, copied to {WAN_PHOTOS} files")
            run([BIN / "genimages", "-n", WAN_DISTINCT, "-w", WAN_W, "-h", WAN_H, wan_dir])
            for i, p in enumerate(wan):
                if not p.exists():
                    shutil.copyfile(wan[i % WAN_DISTINCT], p)
        inputs["wan"] = [str(p) for p in wan]
    return inputs


# ---- the emulator -----------------------------------------------------------------------------


class Emulator:
    """A fluximage-emulator process with --control, reached over one keep-alive connection
    (so that the control requests themselves do not show in the connection count)."""

    def __init__(self, name: str, *flags: str) -> None:
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix="flx-bench-"))
        keys = self.dir / "keys.json"
        # The Agency key without the 50,000-image cap: a full run sends more than that.
        keys.write_text(json.dumps([{"key": KEY, "plan": "agency", "compressor_cap": 10**12}]))
        extra = ["--tls-dir", str(self.dir)] if "--tls" in flags else []
        self.proc = subprocess.Popen(
            [str(EMULATOR), "--listen", "127.0.0.1:0", "--control", "--keys", str(keys), *flags, *extra],
            stdout=subprocess.PIPE, stderr=open(self.dir / "stderr", "w"), text=True)
        self.base = self.download = ""
        self.ca: Optional[str] = None
        deadline = time.monotonic() + 20
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            line = line.strip()
            if line.startswith("listening on "):
                self.base = line.split(" ", 2)[2]
            elif line.startswith("download on "):
                self.download = line.split(" ", 2)[2]
            elif line.startswith("ca file "):
                self.ca = line.split(" ", 2)[2]
            if self.base and self.download and ("--tls" not in flags or self.ca):
                break
        if not self.base:
            self.close()
            sys.exit(f"bench: the emulator did not start: {(self.dir / 'stderr').read_text()}")
        threading.Thread(target=self._drain, daemon=True).start()
        host, port = self.base.split("://")[1].split(":")
        if self.ca:
            ctx = ssl.create_default_context(cafile=self.ca)
            self.conn: http.client.HTTPConnection = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=30)
        else:
            self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.control("GET", "stats")

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def control(self, method: str, what: str) -> Dict[str, Any]:
        self.conn.request(method, f"/__control/{what}")
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"control {what}: HTTP {r.status}")
        return json.loads(body)

    def cpu_seconds(self) -> float:
        """utime + stime of the emulator process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- peers ------------------------------------------------------------------------------------


class Peer:
    def __init__(self, key: str, label: str, lang: str, ours: bool, argv: List[str], env: Optional[Dict[str, str]] = None):
        self.key, self.label, self.lang, self.ours, self.argv, self.env = key, label, lang, ours, argv, env or {}


def peers() -> List[Peer]:
    py = bench_python()
    pyenv = {
        "PYTHONPATH": f"{PY_SRC}:{BENCHES / 'peers'}",
        "FLUXIMAGE_LIB": str(LIB),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return [
        Peer("libcurl", "libcurl (C)", "C", False, [str(BIN / "curl_peer")]),
        Peer("libfluximage", "**libfluximage (C)**", "C", True, [str(BIN / "flx_peer")]),
        Peer("requests", "requests.Session (Python)", "Python", False, [py, str(BENCHES / "peers" / "requests_peer.py")], pyenv),
        Peer("fluximage-python", "**fluximage (Python)**", "Python", True, [py, str(BENCHES / "peers" / "fluximage_peer.py")], pyenv),
        Peer("net/http", "net/http (Go)", "Go", False, [str(BIN / "go_nethttp_peer")]),
        Peer("fluximage-go", "**fluximage (Go)**", "Go", True, [str(BIN / "go_fluximage_peer")]),
    ]


def run_peer(peer: Peer, emu: Emulator, files: List[str], repeat: int = 1, concurrency: int = 0,
             extra: Sequence[str] = ()) -> Dict[str, Any]:
    """Runs one peer once against `emu` (statistics reset first); its figures plus the
    emulator's connection, handshake and request counts for that run."""
    emu.control("POST", "reset")
    argv = list(peer.argv)
    if emu.ca:
        argv += ["--ca", emu.ca]
    argv += ["--repeat", str(repeat)]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    argv += [*extra, emu.base, KEY, *files]
    env = dict(os.environ, **peer.env)
    if LIBDIR != TARGET.resolve():
        env["LD_LIBRARY_PATH"] = f"{LIBDIR}:{env.get('LD_LIBRARY_PATH', '')}"
    cpu0 = emu.cpu_seconds()
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT)
    server_cpu = emu.cpu_seconds() - cpu0
    stats = emu.control("GET", "stats")
    if p.returncode != 0 or not p.stdout.strip():
        raise RuntimeError(f"{peer.key} failed ({p.returncode}): {p.stderr.strip()[-800:]}")
    fig = json.loads(p.stdout.strip().splitlines()[-1])
    fig.update(
        connections_api=stats["connections"]["api"],
        connections_download=stats["connections"]["download"],
        tls_handshakes=stats["tls_handshakes"],
        requests_compress=stats["requests"]["compress"],
        requests_download=stats["requests"]["download"],
        server_cpu_s=server_cpu,
    )
    return fig


# ---- statistics -------------------------------------------------------------------------------


def summary(values: List[float]) -> Dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt(s: Optional[Dict[str, float]], digits: int = 0, unit: str = "") -> str:
    if not s:
        return "n/a"
    f = lambda v: f"{v:,.{digits}f}"
    return f"{f(s['median'])}{unit} ({f(s['min'])}–{f(s['max'])})"


def verdict(ok: Optional[bool]) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def per_round(runs: Dict[str, List[Dict[str, Any]]], num: str, den: str, metric: Callable[[Dict[str, Any]], float]) -> Optional[Dict[str, float]]:
    pairs = [(a, b) for a, b in zip(runs.get(num, []), runs.get(den, [])) if a and b]
    return summary([metric(a) / metric(b) for a, b in pairs]) if pairs else None


# ---- figures ----------------------------------------------------------------------------------


def round_trip_figure(title: str, emu: Emulator, files: List[str]) -> Dict[str, Any]:
    """Figures 1 and 2: every peer, ROUND_TRIPS sequential round trips, REPS interleaved rounds."""
    ps = peers()
    runs: Dict[str, List[Optional[Dict[str, Any]]]] = {p.key: [] for p in ps}
    for rep in range(REPS):
        order = ps if rep % 2 == 0 else list(reversed(ps))
        for p in order:
            try:
                fig = run_peer(p, emu, files, repeat=ROUND_TRIPS)
                if fig["bytes_down"] != fig["bytes_up"]:
                    raise RuntimeError(f"{p.key}: downloaded {fig['bytes_down']} bytes of {fig['bytes_up']}")
                runs[p.key].append(fig)
                log(f"{title} round {rep + 1}: {p.key}: {ROUND_TRIPS / fig['wall_s']:,.0f} round trips/s, "
                    f"{fig['cpu_s'] / ROUND_TRIPS * 1e6:,.1f} µs CPU each")
            except Exception as e:  # noqa: BLE001 - recorded, the run goes on
                failures.append(f"{title}: {e}")
                log(f"FAILED {e}")
                runs[p.key].append(None)
    out: Dict[str, Any] = {"round_trips": ROUND_TRIPS, "file_bytes": os.path.getsize(files[0]), "peers": {}}
    for p in ps:
        ok = [r for r in runs[p.key] if r]
        if not ok:
            continue
        requests = [r["requests_compress"] + r["requests_download"] for r in ok]
        out["peers"][p.key] = {
            "label": p.label,
            "ours": p.ours,
            "round_trips_per_s": summary([ROUND_TRIPS / r["wall_s"] for r in ok]),
            "cpu_us_per_round_trip": summary([r["cpu_s"] / ROUND_TRIPS * 1e6 for r in ok]),
            "connections_api": max(r["connections_api"] for r in ok),
            "connections_download": max(r["connections_download"] for r in ok),
            "tls_handshakes": max(r["tls_handshakes"] for r in ok),
            "handshakes_per_100_requests": summary([100 * r["tls_handshakes"] / n for r, n in zip(ok, requests)]),
            "runs": ok,
        }
    cpu = lambda r: r["cpu_s"]
    rate = lambda r: 1 / r["wall_s"]
    out["ratios"] = {
        "c_cpu_vs_libcurl": per_round(runs, "libfluximage", "libcurl", cpu),  # type: ignore[arg-type]
        "c_throughput_vs_libcurl": per_round(runs, "libfluximage", "libcurl", rate),  # type: ignore[arg-type]
        "python_throughput_vs_requests": per_round(runs, "fluximage-python", "requests", rate),  # type: ignore[arg-type]
        "python_cpu_vs_requests": per_round(runs, "fluximage-python", "requests", cpu),  # type: ignore[arg-type]
        "python_cpu_vs_c": per_round(runs, "fluximage-python", "libfluximage", cpu),  # type: ignore[arg-type]
        "go_cpu_vs_nethttp": per_round(runs, "fluximage-go", "net/http", cpu),  # type: ignore[arg-type]
        "go_throughput_vs_nethttp": per_round(runs, "fluximage-go", "net/http", rate),  # type: ignore[arg-type]
    }
    return out


def large_figure(emu: Emulator, files: List[str]) -> Dict[str, Any]:
    ps = peers()
    runs: Dict[str, List[Optional[Dict[str, Any]]]] = {p.key: [] for p in ps}
    total = sum(os.path.getsize(f) for f in files)
    for rep in range(LONG_REPS):
        order = ps if rep % 2 == 0 else list(reversed(ps))
        for p in order:
            try:
                fig = run_peer(p, emu, files)
                if fig["bytes_down"] != total:
                    raise RuntimeError(f"{p.key}: downloaded {fig['bytes_down']} bytes of {total}")
                runs[p.key].append(fig)
                log(f"large round {rep + 1}: {p.key}: {fig['wall_s']:.2f} s, "
                    f"{fig['cpu_s'] / (total / 1e9):.2f} s CPU/GB, RSS +{(fig['rss_peak_kb'] - fig['rss_start_kb']) / 1024:.0f} MB")
            except Exception as e:  # noqa: BLE001
                failures.append(f"large uploads: {e}")
                log(f"FAILED {e}")
                runs[p.key].append(None)
            emu.control("POST", "delete-results")  # the emulator keeps results in memory
    out: Dict[str, Any] = {"files": len(files), "file_bytes": total // len(files), "total_bytes": total, "peers": {}}
    for p in ps:
        ok = [r for r in runs[p.key] if r]
        if not ok:
            continue
        out["peers"][p.key] = {
            "label": p.label,
            "ours": p.ours,
            "wall_s": summary([r["wall_s"] for r in ok]),
            "cpu_s_per_gb": summary([r["cpu_s"] / (total / 1e9) for r in ok]),
            "rss_growth_mb": summary([(r["rss_peak_kb"] - r["rss_start_kb"]) / 1024 for r in ok]),
            "rss_peak_mb": summary([r["rss_peak_kb"] / 1024 for r in ok]),
            "runs": ok,
        }
    out["ratios"] = {
        "c_cpu_per_gb_vs_libcurl": per_round(runs, "libfluximage", "libcurl", lambda r: r["cpu_s"]),  # type: ignore[arg-type]
    }
    return out


def batch_figure(emu: Emulator, files: List[str]) -> Dict[str, Any]:
    ours = next(p for p in peers() if p.key == "libfluximage")
    loader = Peer("capacity", f"emulator capacity (libcurl loader, {LOADER_IN_FLIGHT} in flight)", "C", False, [str(BIN / "loader")])
    configs: List[Tuple[str, Peer, int]] = [("capacity", loader, LOADER_IN_FLIGHT)]
    configs += [(f"c{c}", ours, c) for c in CONCURRENCIES]
    runs: Dict[str, List[Optional[Dict[str, Any]]]] = {k: [] for k, _, _ in configs}
    for rep in range(LONG_REPS):
        order = configs if rep % 2 == 0 else list(reversed(configs))
        for key, peer, conc in order:
            try:
                fig = run_peer(peer, emu, files, concurrency=conc)
                if fig["requests_download"] != len(files):
                    raise RuntimeError(f"{key}: {fig['requests_download']} downloads for {len(files)} images")
                runs[key].append(fig)
                log(f"batch round {rep + 1}: {key}: {len(files) / fig['wall_s']:.1f} images/s, "
                    f"server CPU {fig['server_cpu_s'] / fig['wall_s'] / (os.cpu_count() or 1):.0%}")
            except Exception as e:  # noqa: BLE001
                failures.append(f"batch throughput: {e}")
                log(f"FAILED {e}")
                runs[key].append(None)
            emu.control("POST", "delete-results")
    out: Dict[str, Any] = {"images": len(files), "size": f"{PHOTO_W}x{PHOTO_H}",
                           "input_bytes": sum(os.path.getsize(f) for f in files), "configs": {}}
    rate = lambda r: 1 / r["wall_s"]
    for key, peer, conc in configs:
        ok = [r for r in runs[key] if r]
        if not ok:
            continue
        out["configs"][key] = {
            "label": peer.label if key == "capacity" else f"**libfluximage (C), concurrency {conc}**",
            "concurrency": conc,
            "images_per_s": summary([len(files) / r["wall_s"] for r in ok]),
            "server_cpu_use": summary([r["server_cpu_s"] / r["wall_s"] / (os.cpu_count() or 1) for r in ok]),
            "ratio_to_capacity": per_round(runs, key, "capacity", rate) if key != "capacity" else None,  # type: ignore[arg-type]
            "runs": ok,
        }
    scored = [(v["ratio_to_capacity"]["median"], v["concurrency"]) for k, v in out["configs"].items()
              if k != "capacity" and v["ratio_to_capacity"]]
    if scored:
        best_ratio = max(r for r, _ in scored)
        out["best"] = {"ratio": best_ratio, "concurrency": min(c for r, c in scored if r == best_ratio),
                       # Settings within 3% of the best: on this machine, differences below that are noise.
                       "as_good": sorted(c for r, c in scored if r >= best_ratio - 0.03)}
    return out


def wan_bound(files: List[str]) -> Dict[str, float]:
    """The physical lower bound of figure 6: the slowest of all bytes up at the upload cap,
    all server work at its parallelism, all bytes down at the download cap (pass-through:
    the results are as large as the inputs), plus one round trip of start-up."""
    total = sum(os.path.getsize(f) for f in files)
    up = total * 8 / WAN_UP_BPS
    work = len(files) * WAN_WORK_S / WAN_ENCODERS
    down = total * 8 / WAN_DOWN_BPS
    return {"upload_s": up, "work_s": work, "download_s": down, "rtt_s": WAN_RTT_S,
            "bound_s": max(up, work, down) + WAN_RTT_S, "bytes": total}


def run_sync_peer(emu: Emulator, src: Path, out: Path, concurrency: int = 0, dry_run: bool = False) -> Dict[str, Any]:
    """One sync_peer run (statistics reset first); its figures, the emulator's request counts
    and the process's whole wall time (start-up included, as for rsync and git)."""
    emu.control("POST", "reset")
    argv = [str(BIN / "sync_peer")]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    if dry_run:
        argv.append("--dry-run")
    argv += [emu.base, KEY, str(src), str(out)]
    env = dict(os.environ)
    if LIBDIR != TARGET.resolve():
        env["LD_LIBRARY_PATH"] = f"{LIBDIR}:{env.get('LD_LIBRARY_PATH', '')}"
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT)
    process_wall = time.monotonic() - t0
    stats = emu.control("GET", "stats")
    if p.returncode != 0 or not p.stdout.strip():
        raise RuntimeError(f"sync_peer failed ({p.returncode}): {p.stderr.strip()[-800:]}")
    fig = json.loads(p.stdout.strip().splitlines()[-1])
    fig.update(process_wall_s=process_wall, requests_compress=stats["requests"]["compress"],
               requests_usage=stats["requests"].get("usage", 0), requests_download=stats["requests"]["download"])
    return fig


def wan_figure(files: List[str]) -> Dict[str, Any]:
    """Figure 6: 200 photos over a shaped WAN link, each client's wall time ÷ the lower bound."""
    bound = wan_bound(files)
    # The emulator takes rates in bytes per second.
    flags = ["--encode", "none", "--rtt-ms", f"{WAN_RTT_S * 1000:.0f}", "--upload-rate", f"{WAN_UP_BPS / 8:.0f}",
             "--download-rate", f"{WAN_DOWN_BPS / 8:.0f}", "--work-ms", f"{WAN_WORK_S * 1000:.0f}",
             "--work-jitter-ms", f"{WAN_JITTER_S * 1000:.0f}", "--encoders", str(WAN_ENCODERS)]
    flx = next(p for p in peers() if p.key == "libfluximage")
    curl = next(p for p in peers() if p.key == "libcurl")
    # (key, label, how): how is ("peer", Peer, concurrency, extra args) or ("sync", concurrency)
    configs: List[Tuple[str, str, Tuple[Any, ...]]] = [
        ("flx-default", "**libfluximage (C), default concurrency**", ("peer", flx, 0, ())),
        *[(f"flx-c{c}", f"**libfluximage (C), concurrency {c}**", ("peer", flx, c, ())) for c in WAN_CONCURRENCIES],
        ("flx-into", "**libfluximage (C), flx_compress into a folder (flx_options_set_output), default concurrency**", ("into", flx, 0)),
        ("flx-sync", "**libfluximage flx_sync, folder to folder, default concurrency**", ("sync", 0)),
        ("curl-20", "libcurl, 20-file requests one after another", ("peer", curl, 0, ("--per-request", "20"))),
        ("curl-1", "libcurl, one image per request, one after another", ("peer", curl, 0, ("--per-request", "1"))),
    ]
    runs: Dict[str, List[Optional[Dict[str, Any]]]] = {k: [] for k, _, _ in configs}
    src = Path(files[0]).parent
    with Emulator("wan", *flags) as emu:
        log(f"figure 6 (WAN) on {emu.base}: {len(files)} images, {bound['bytes'] / 1e6:.1f} MB, "
            f"lower bound {bound['bound_s']:.2f} s")
        for rep in range(WAN_REPS):
            order = configs if rep % 2 == 0 else list(reversed(configs))
            for key, _, how in order:
                try:
                    if how[0] == "sync":
                        with tempfile.TemporaryDirectory(prefix="flx-bench-wan-", dir=OUT) as out:
                            fig = run_sync_peer(emu, src, Path(out) / "out", concurrency=how[1])
                        if fig["compressed"] + fig.get("kept_original", 0) < len(files) and fig["bytes_down"] < bound["bytes"]:
                            raise RuntimeError(f"{key}: {fig['compressed']} of {len(files)} images saved")
                    elif how[0] == "into":
                        with tempfile.TemporaryDirectory(prefix="flx-bench-wan-", dir=OUT) as out:
                            fig = run_peer(how[1], emu, files, concurrency=how[2], extra=("--into", out))
                            saved = sum(p.stat().st_size for p in Path(out).iterdir())
                        if fig["bytes_down"] != bound["bytes"] or saved != bound["bytes"]:
                            raise RuntimeError(f"{key}: saved {saved} bytes of {bound['bytes']}")
                    else:
                        fig = run_peer(how[1], emu, files, concurrency=how[2], extra=how[3])
                        if fig["bytes_down"] != bound["bytes"]:
                            raise RuntimeError(f"{key}: downloaded {fig['bytes_down']} bytes of {bound['bytes']}")
                    runs[key].append(fig)
                    log(f"WAN round {rep + 1}: {key}: {fig['wall_s']:.2f} s = {fig['wall_s'] / bound['bound_s']:.2f}× the bound, "
                        f"{fig['requests_compress']} requests")
                except Exception as e:  # noqa: BLE001
                    failures.append(f"WAN: {e}")
                    log(f"FAILED {e}")
                    runs[key].append(None)
                emu.control("POST", "delete-results")
    out: Dict[str, Any] = {"images": len(files), "size": f"{WAN_W}x{WAN_H}", "input_bytes": bound["bytes"],
                           "link": {"rtt_ms": WAN_RTT_S * 1000, "up_mbit_s": WAN_UP_BPS / 1e6, "down_mbit_s": WAN_DOWN_BPS / 1e6,
                                    "work_ms_per_image": WAN_WORK_S * 1000, "work_jitter_ms": WAN_JITTER_S * 1000,
                                    "encoders": WAN_ENCODERS, "encode": "none (pass-through with work time)"},
                           "bound": bound, "configs": {}}
    for key, label, how in configs:
        ok = [r for r in runs[key] if r]
        if not ok:
            continue
        out["configs"][key] = {"label": label, "concurrency": how[2] if how[0] in ("peer", "into") else how[1],
                               "wall_s": summary([r["wall_s"] for r in ok]),
                               "ratio_to_bound": summary([r["wall_s"] / bound["bound_s"] for r in ok]),
                               "requests": ok[0]["requests_compress"], "runs": ok}
    ours = {k: v for k, v in out["configs"].items() if k.startswith("flx-c") or k in ("flx-default", "flx-into")}
    if ours:
        best = min(ours, key=lambda k: ours[k]["ratio_to_bound"]["median"])
        out["best"] = {"config": best, "ratio": ours[best]["ratio_to_bound"]["median"]}
    return out


def png_tagged(tag: int) -> bytes:
    """A small real PNG whose text chunk carries `tag`, so that every file of a tree differs."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + bytes(((x * 16 + y * 7) ^ (x * y * 13)) & 255 for x in range(24)) for y in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"tEXt", b"Comment\0" + str(tag).encode() * 40) + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b""))


def make_tree(root: Path, files: int, dirs: int) -> Path:
    """`files` small PNGs spread over `dirs` folders under `root` (made once, kept in DATA)."""
    done = root / ".complete"
    if done.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    log(f"writing {files:,} files in {dirs} folders under {root}")
    per = files // dirs
    for d in range(dirs):
        folder = root / f"album-{d + 1:03d}"
        folder.mkdir(parents=True)
        for i in range(per):
            n = d * per + i
            (folder / f"img-{n + 1:05d}.png").write_bytes(png_tagged(n))
    done.write_text("")
    return root


def timed(cmd: Sequence[Any], cwd: Optional[Path] = None) -> float:
    t0 = time.monotonic()
    subprocess.run([str(c) for c in cmd], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=RUN_TIMEOUT)
    return time.monotonic() - t0


def sync_figure() -> Dict[str, Any]:
    """Figure 7: an up-to-date flx_sync rerun beside rsync --dry-run and git status over the same
    tree (each timed as the whole command, start-up included), and the peak RSS of planning a
    bigger tree (a dry run into an empty folder)."""
    src = make_tree(DATA / f"sync-{SYNC_FILES}", SYNC_FILES, SYNC_DIRS)
    big = make_tree(DATA / f"plan-{PLAN_FILES}", PLAN_FILES, SYNC_DIRS)
    out_dir = DATA / f"sync-{SYNC_FILES}-out"
    copy = DATA / f"sync-{SYNC_FILES}-copy"
    repo = DATA / f"sync-{SYNC_FILES}-git"
    rsync = shutil.which("rsync")
    res: Dict[str, Any] = {"files": SYNC_FILES, "folders": SYNC_DIRS, "plan_files": PLAN_FILES}
    if rsync:
        run([rsync, "-a", "--delete", f"{src}/", f"{copy}/"])  # an up-to-date copy
    else:
        failures.append("sync figure: rsync is not installed (Debian: apt-get install rsync); no rsync comparison")
    if not (repo / ".git").exists():
        shutil.rmtree(repo, ignore_errors=True)
        shutil.copytree(src, repo)
        git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
        run([*git, "init", "-q"], cwd=repo)
        run([*git, "add", "-A"], cwd=repo)
        run([*git, "commit", "-q", "-m", "tree"], cwd=repo)
    runs: Dict[str, List[float]] = {"flx": [], "flx_inner": [], "rsync": [], "git": []}
    with Emulator("sync", "--encode", "none") as emu:
        log(f"figure 7 (sync) on {emu.base}")
        first = run_sync_peer(emu, src, out_dir)  # fills (or checks) the output tree once
        log(f"sync: first run {first['wall_s']:.2f} s, {first['requests_compress']} requests")
        reruns = []
        for rep in range(REPS):
            fig = run_sync_peer(emu, src, out_dir)
            reruns.append(fig)
            runs["flx"].append(fig["process_wall_s"])
            runs["flx_inner"].append(fig["wall_s"])
            if rsync:
                runs["rsync"].append(timed([rsync, "-a", "--dry-run", f"{src}/", f"{copy}/"]))
            runs["git"].append(timed(["git", "status"], cwd=repo))
            log(f"sync round {rep + 1}: flx_sync {runs['flx'][-1] * 1000:.0f} ms"
                + (f", rsync {runs['rsync'][-1] * 1000:.0f} ms" if rsync else "") + f", git status {runs['git'][-1] * 1000:.0f} ms")
        requests = max(r["requests_compress"] + r["requests_usage"] + r["requests_download"] for r in reruns)
        if requests:
            failures.append(f"sync figure: an up-to-date rerun sent {requests} requests")
        with tempfile.TemporaryDirectory(prefix="flx-bench-plan-", dir=OUT) as d:
            plan = run_sync_peer(emu, big, Path(d) / "out", dry_run=True)
    res["rerun_requests"] = requests
    res["up_to_date"] = reruns[-1]["up_to_date"]
    for k, v in runs.items():
        if v:
            res[f"{k}_s"] = summary(v)
    if runs["rsync"]:
        res["flx_vs_rsync"] = summary([a / b for a, b in zip(runs["flx"], runs["rsync"])])
    res["flx_vs_git"] = summary([a / b for a, b in zip(runs["flx"], runs["git"])])
    res["plan"] = {"files": plan["files"], "wall_s": plan["wall_s"], "rss_peak_mb": plan["rss_peak_kb"] / 1024,
                   "rss_growth_mb": (plan["rss_peak_kb"] - plan["rss_start_kb"]) / 1024}
    log(f"planning {plan['files']:,} files: {plan['wall_s']:.2f} s, peak RSS {plan['rss_peak_kb'] / 1024:.1f} MB")
    return res


def passthrough_capacity() -> Dict[str, Any]:
    exe = TARGET / "examples" / "passthrough_bench"
    vals = []
    line = ""
    for _ in range(REPS):
        p = subprocess.run([str(exe), "2", "4"], capture_output=True, text=True, timeout=60)
        line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr.strip()
        try:
            vals.append(float(line.split(" round trips/s")[0].rsplit(": ", 1)[1]))
        except (IndexError, ValueError):
            failures.append(f"passthrough_bench: {line}")
            return {}
    log(f"pass-through capacity: {line}")
    return {"round_trips_per_s": summary(vals), "client_threads": 4, "seconds": 2, "last_line": line}


def footprint() -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="flx-bench-strip-") as d:
        stripped = Path(d) / "libfluximage.so"
        run(["strip", "--strip-all", "-o", stripped, LIB])
        out["unstripped_bytes"] = LIB.stat().st_size
        out["stripped_bytes"] = stripped.stat().st_size
    needed = run(["readelf", "-d", LIB], capture_output=True).stdout
    out["needed"] = [l.split("[", 1)[1].rstrip("]") for l in needed.splitlines() if "(NEEDED)" in l]
    tree = subprocess.run(["cargo", "tree", "--locked", "--offline", "-p", "fluximage", "-e", "normal,no-proc-macro",
                           "--prefix", "none", "--format", "{p}"], cwd=ROOT, capture_output=True, text=True)
    if tree.returncode == 0:
        crates = {l.split(" (")[0].strip() for l in tree.stdout.splitlines() if l.strip()}
        crates = {c for c in crates if not c.startswith("fluximage ")}
        out["crates"] = len(crates)
    if BUILD:
        target = Path(tempfile.mkdtemp(prefix="flx-bench-cold-"))
        log("cold release build of libfluximage (BENCH_BUILD=0 skips it)")
        t0 = time.monotonic()
        p = subprocess.run(["cargo", "build", "--release", "--locked", "--offline", "--quiet", "-p", "fluximage"],
                           cwd=ROOT, env=dict(os.environ, CARGO_TARGET_DIR=str(target)), capture_output=True, text=True)
        elapsed = time.monotonic() - t0
        shutil.rmtree(target, ignore_errors=True)
        if p.returncode == 0:
            out["cold_build_s"] = elapsed
            log(f"cold build: {elapsed:.0f} s")
        else:
            failures.append(f"cold build failed: {p.stderr.strip()[-500:]}")
    return out


# ---- report -----------------------------------------------------------------------------------


def target_line(name: str, ratio: Optional[Dict[str, float]], op: str, limit: float, unit: str = "×") -> Tuple[str, Optional[bool]]:
    if not ratio:
        return f"| {name} | n/a | {op} {limit}{unit} | n/a |", None
    ok = ratio["median"] <= limit if op == "≤" else ratio["median"] >= limit
    return f"| {name} | {fmt(ratio, 2, unit)} | {op} {limit}{unit} | {verdict(ok)} |", ok


def markdown(res: Dict[str, Any]) -> str:
    m = res["meta"]
    L = [f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores), {m['os']}; commit {m['commit']}. "
         f"Client and emulator share the machine. Each figure: median (min–max) of {m['reps']} interleaved "
         f"repetitions ({m['long_reps']} for figures 3 and 4); ratios are taken within each repetition."
         + (f" Library: `{m['library']}`." if os.environ.get("BENCH_LIBDIR") else "")
         + (f" Python package: `{m['python_package']}`." if os.environ.get("BENCH_PY_SRC") else "")
         + (f" Figures {', '.join(k.split('_')[0].removeprefix('fig') for k in m['kept_from_previous_run']['figures'])} are "
            f"kept from the run of {m['kept_from_previous_run']['date']} (commit {m['kept_from_previous_run']['commit']})."
            if m.get("kept_from_previous_run") else ""), ""]
    targets: List[Tuple[str, Optional[bool]]] = []

    def rt_table(key: str, title: str) -> None:
        f = res.get(key)
        if not f:
            return
        tls = key == "fig2_tls"
        L.append(f"**{title}** ({f['round_trips']:,} sequential round trips of a {f['file_bytes']:,}-byte image: "
                 "upload, parse, download; pass-through)")
        L.append("")
        head = "| peer | round trips/s | client CPU µs/round trip | connections (API + download) |"
        sep = "|---|---|---|---|"
        if tls:
            head += " TLS handshakes / 100 requests |"
            sep += "---|"
        L.extend([head, sep])
        for p in f["peers"].values():
            row = (f"| {p['label']} | {fmt(p['round_trips_per_s'])} | {fmt(p['cpu_us_per_round_trip'], 1)} | "
                   f"{p['connections_api']} + {p['connections_download']} |")
            if tls:
                row += f" {p['handshakes_per_100_requests']['median']:.2f} |"
            L.append(row)
        L.append("")
        r = f["ratios"]
        L.extend(["| comparison (ours ÷ peer) | ratio | target | |", "|---|---|---|---|"])
        rows = [target_line("C: CPU per round trip ÷ libcurl", r["c_cpu_vs_libcurl"], "≤", 1.0)]
        if not tls:
            rows += [target_line("Python: round trips/s ÷ requests", r["python_throughput_vs_requests"], "≥", 2.0),
                     target_line("Python: CPU per round trip ÷ the C API's", r.get("python_cpu_vs_c"), "≤", 1.5),
                     target_line("Go: CPU per round trip ÷ net/http", r["go_cpu_vs_nethttp"], "≤", 1.0)]
        else:
            rows += [target_line("Python: CPU per round trip ÷ requests", r["python_cpu_vs_requests"], "≤", 1.0),
                     target_line("Go: CPU per round trip ÷ net/http", r["go_cpu_vs_nethttp"], "≤", 1.0)]
        ours = [p for p in f["peers"].values() if p["ours"]]
        conn_ok = bool(ours) and all(p["connections_api"] == 1 and p["connections_download"] == 1 for p in ours)
        rows.append((f"| ours: connections per origin for the whole run | "
                     f"{max((max(p['connections_api'], p['connections_download']) for p in ours), default=0)} | 1 | {verdict(conn_ok)} |", conn_ok))
        if tls:
            hs = max((p["handshakes_per_100_requests"]["max"] for p in ours), default=None)
            hs_ok = None if hs is None else hs <= 1.0
            rows.append((f"| ours: TLS handshakes per 100 requests | {hs:.2f} | ≤ 1 | {verdict(hs_ok)} |" if hs is not None
                         else "| ours: TLS handshakes per 100 requests | n/a | ≤ 1 | n/a |", hs_ok))
        for line, ok in rows:
            L.append(line)
            targets.append((f"{title}: {line.split('|')[1].strip()}", ok))
        L.append("")

    rt_table("fig1_http", "1. Per-request overhead, HTTP")
    rt_table("fig2_tls", "2. Per-request overhead, HTTPS")

    f = res.get("fig3_large")
    if f:
        L.append(f"**3. Large uploads** (one batch of {f['files']} files of {f['file_bytes']:,} random bytes, "
                 f"{f['total_bytes'] / 1e9:.2f} GB up and down; pass-through)")
        L.extend(["", "| peer | wall s | client CPU s/GB | peak RSS growth MB | peak RSS MB |", "|---|---|---|---|---|"])
        for p in f["peers"].values():
            L.append(f"| {p['label']} | {fmt(p['wall_s'], 2)} | {fmt(p['cpu_s_per_gb'], 2)} | "
                     f"{fmt(p['rss_growth_mb'])} | {fmt(p['rss_peak_mb'])} |")
        L.extend(["", "| comparison | value | target | |", "|---|---|---|---|"])
        line, ok = target_line("C: CPU per GB ÷ libcurl", f["ratios"]["c_cpu_per_gb_vs_libcurl"], "≤", 1.2)
        L.append(line)
        targets.append(("3. Large uploads: C CPU per GB ÷ libcurl", ok))
        c = f["peers"].get("libfluximage")
        if c:
            ok = c["rss_growth_mb"]["median"] <= 32
            req = f["peers"].get("requests")
            beside = f"; requests: {req['rss_growth_mb']['median']:,.0f} MB" if req else ""
            L.append(f"| C: RSS growth{beside} | {fmt(c['rss_growth_mb'], 0, ' MB')} | ≤ 32 MB | {verdict(ok)} |")
            targets.append(("3. Large uploads: C RSS growth", ok))
        L.append("")

    f = res.get("fig4_batch")
    if f:
        L.append(f"**4. Batch throughput with real encoding** ({f['images']} photo-like {f['size']} JPEGs → WebP q82, "
                 "compress then download all)")
        L.extend(["", "| client | images/s | ÷ emulator capacity | emulator CPU use |", "|---|---|---|---|"])
        for k, v in f["configs"].items():
            ratio = fmt(v["ratio_to_capacity"], 2) if v["ratio_to_capacity"] else "1 (reference)"
            L.append(f"| {v['label']} | {fmt(v['images_per_s'], 1)} | {ratio} | {fmt(v['server_cpu_use'], 2)} |")
        if f.get("best"):
            ok = f["best"]["ratio"] >= 0.9
            L.extend(["", "| comparison | value | target | |", "|---|---|---|---|",
                  f"| best setting ÷ capacity (concurrency {f['best']['concurrency']}) | {f['best']['ratio']:.2f} | ≥ 0.90 | {verdict(ok)} |",
                  f"| settings within 3% of the best | {', '.join(map(str, f['best']['as_good']))} | | |"])
            targets.append(("4. Batch throughput: best ÷ capacity", ok))
        L.append("")

    f = res.get("fig6_wan")
    if f:
        b, l = f["bound"], f["link"]
        L.append(f"**6. A WAN link** ({f['images']} photo-like {f['size']} JPEGs, {f['input_bytes'] / 1e6:.1f} MB; "
                 f"{l['rtt_ms']:.0f} ms round trip, {l['up_mbit_s']:.0f} Mbit/s up, {l['down_mbit_s']:.0f} Mbit/s down, "
                 f"{l['work_ms_per_image']:.0f} ± {l['work_jitter_ms']:.0f} ms of server work per image, {l['encoders']} at a time; "
                 "emulator in pass-through mode with that work time, so results are as large as the inputs)")
        L.append("")
        L.append(f"Lower bound: max(upload {b['upload_s']:.2f} s, server work {b['work_s']:.2f} s, download {b['download_s']:.2f} s) "
                 f"+ one round trip = **{b['bound_s']:.2f} s**.")
        L.extend(["", "| client | wall s | ÷ bound | compress requests |", "|---|---|---|---|"])
        for v in f["configs"].values():
            L.append(f"| {v['label']} | {fmt(v['wall_s'], 2)} | {fmt(v['ratio_to_bound'], 2, '×')} | {v['requests']} |")
        L.extend(["", "| comparison | value | target | |", "|---|---|---|---|"])
        for key, name in (("flx-into", "flx_compress into a folder"), ("flx-sync", "flx_sync")):
            d = f["configs"].get(key)
            line, ok = target_line(f"libfluximage at its default ÷ bound, {name}", d["ratio_to_bound"] if d else None, "≤", 1.15)
            L.append(line)
            targets.append((f"6. WAN: default ÷ bound, {name}", ok))
        d = f["configs"].get("flx-default")
        if d:
            # Not a target: each flx_batch_fetch after the call is a round trip of its own.
            L.append(f"| flx_compress, then flx_batch_fetch per image, ÷ bound | {fmt(d['ratio_to_bound'], 2, '×')} | | |")
        if f.get("best"):
            L.append(f"| best setting ({f['configs'][f['best']['config']]['label'].strip('*')}) ÷ bound | {f['best']['ratio']:.2f}× | | |")
        L.append("")

    f = res.get("fig7_sync")
    if f:
        L.append(f"**7. Folder sync** (an up-to-date rerun over {f['files']:,} files in {f['folders']} folders; each tool timed as a "
                 "whole command, start-up included)")
        L.extend(["", "| command | wall ms |", "|---|---|"])
        L.append(f"| **`flx_sync` rerun (sync_peer)**: {f['rerun_requests']} requests, {f['up_to_date']:,} files up to date | {fmt({k: v * 1000 for k, v in f['flx_s'].items()}, 0)} |")
        if "rsync_s" in f:
            L.append(f"| `rsync -a --dry-run` to an up-to-date copy | {fmt({k: v * 1000 for k, v in f['rsync_s'].items()}, 0)} |")
        L.append(f"| `git status` in a repository of the files | {fmt({k: v * 1000 for k, v in f['git_s'].items()}, 0)} |")
        L.extend(["", "| comparison | value | target | |", "|---|---|---|---|"])
        line, ok = target_line("flx_sync rerun ÷ rsync --dry-run", f.get("flx_vs_rsync"), "≤", 1.0)
        L.append(line)
        targets.append(("7. Sync: rerun ÷ rsync", ok))
        ok = f["rerun_requests"] == 0
        L.append(f"| requests sent by an up-to-date rerun | {f['rerun_requests']} | 0 | {verdict(ok)} |")
        targets.append(("7. Sync: requests of an up-to-date rerun", ok))
        p = f["plan"]
        L.append(f"| peak RSS of planning {p['files']:,} files (dry run) | {p['rss_peak_mb']:.1f} MB (+{p['rss_growth_mb']:.1f} MB), {p['wall_s']:.2f} s | | |")
        L.append("")

    f = res.get("passthrough")
    if f:
        L.append(f"Emulator pass-through capacity (`passthrough_bench`, raw-socket clients, {f['client_threads']} threads): "
                 f"{fmt(f['round_trips_per_s'])} round trips/s.")
        L.append("")

    f = res.get("fig5_footprint")
    if f:
        L.append("**5. Footprint**")
        L.extend(["", "| measure | value | target | |", "|---|---|---|---|"])
        ok = f["stripped_bytes"] <= 2.5e6
        L.append(f"| stripped libfluximage.so | {f['stripped_bytes'] / 1e6:.2f} MB ({f['unstripped_bytes'] / 1e6:.2f} MB unstripped) | ≤ 2.5 MB | {verdict(ok)} |")
        targets.append(("5. Footprint: stripped size", ok))
        L.append(f"| shared-library dependencies (NEEDED) | {len(f['needed'])}: {', '.join(f['needed'])} | | |")
        if "crates" in f:
            L.append(f"| Rust crates linked in | {f['crates']} | | |")
        cold = f"{f['cold_build_s']:.0f} s" if "cold_build_s" in f else "skipped (BENCH_BUILD=0)"
        L.append(f"| cold release build (`cargo build --release -p fluximage`, crates already downloaded) | {cold} | | |")
        L.append("")
    res["targets"] = [{"target": t, "met": ok} for t, ok in targets]
    return "\n".join(L)


def meta() -> Dict[str, Any]:
    def out(cmd: List[str], cwd: Path = ROOT) -> str:
        try:
            return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    commit = out(["git", "rev-parse", "--short", "HEAD"])
    if out(["git", "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"]):
        commit += " (src modified)"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "commit": commit,
        "reps": REPS,
        "long_reps": LONG_REPS,
        "library": str(LIB),
        "python_package": str(PY_SRC),
        "load_average_at_start": os.getloadavg(),
        "versions": {
            "libfluximage": out([sys.executable, "-c", "import ctypes,sys; l=ctypes.CDLL(sys.argv[1]); "
                                 "l.flx_version.restype=ctypes.c_char_p; print(l.flx_version().decode())", str(LIB)]),
            "libcurl": out(["pkg-config", "--modversion", "libcurl"]),
            "python": out([bench_python(), "-c", "import sys; print(sys.version.split()[0])"]),
            "requests": out([bench_python(), "-c", "import requests; print(requests.__version__)"]),
            "go": out([go_tool(), "env", "GOVERSION"]),
            "rustc": out(["rustc", "--version"]),
        },
    }


def main() -> int:
    build_peers()
    inputs = make_inputs()
    res: Dict[str, Any] = {"meta": meta()}
    if want("1"):
        with Emulator("http", "--encode", "none") as emu:
            log(f"figure 1 (HTTP) on {emu.base}")
            res["fig1_http"] = round_trip_figure("HTTP", emu, inputs["small"])
    if want("2"):
        with Emulator("tls", "--encode", "none", "--tls") as emu:
            log(f"figure 2 (HTTPS) on {emu.base}")
            res["fig2_tls"] = round_trip_figure("HTTPS", emu, inputs["small"])
    if want("3"):
        with Emulator("large", "--encode", "none") as emu:
            log(f"figure 3 (large uploads) on {emu.base}")
            res["fig3_large"] = large_figure(emu, inputs["big"])
    if want("4"):
        with Emulator("real", "--encode", "real") as emu:
            log(f"figure 4 (real encoding) on {emu.base}")
            res["fig4_batch"] = batch_figure(emu, inputs["photos"])
    if want("6"):
        res["fig6_wan"] = wan_figure(inputs["wan"])
    if want("7"):
        res["fig7_sync"] = sync_figure()
    if want("p"):
        res["passthrough"] = passthrough_capacity()
    if want("5"):
        res["fig5_footprint"] = footprint()
    if ONLY and OUT_PREFIX.with_suffix(".json").exists():
        # Figures not rerun are kept from the previous results, and say so.
        old = json.loads(OUT_PREFIX.with_suffix(".json").read_text())
        kept = [k for k in old if (k.startswith("fig") or k == "passthrough") and k not in res]
        for k in kept:
            res[k] = old[k]
        if kept:
            res["meta"]["kept_from_previous_run"] = {"figures": kept, "date": old["meta"]["date"], "commit": old["meta"]["commit"]}
    md = markdown(res)
    res["failures"] = failures
    res["elapsed_s"] = time.monotonic() - started
    OUT_PREFIX.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    OUT_PREFIX.with_suffix(".md").write_text(md + "\n")
    print(md)
    missed = [t["target"] for t in res["targets"] if t["met"] is False]
    print(f"\nbench: {len(res['targets']) - len(missed)} of {len(res['targets'])} targets met"
          + (f"; missed: {'; '.join(missed)}" if missed else "") + f"; {res['elapsed_s']:.0f} s in all. "
          f"Wrote {OUT_PREFIX}.json and {OUT_PREFIX}.md.")
    if os.environ.get("BENCH_KEEP_DATA", "1") == "0":
        shutil.rmtree(DATA, ignore_errors=True)
    if failures:
        print("bench: failures:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
