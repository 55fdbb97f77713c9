"""Command line and figures shared by the Python peers (see peer.h for the contract).

    PEER [--ca PEM] [--repeat N] [--concurrency C] BASE_URL KEY FILE...

Prints one JSON line: wall time, client CPU (getrusage RUSAGE_SELF, every thread) and peak RSS
(VmHWM of /proc/self/status: ru_maxrss carries the parent's figure over exec), measured from
after the imports and the client's setup to the end of the work.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from typing import Any, Dict, List, Optional


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--ca")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=0)
    p.add_argument("base")
    p.add_argument("key")
    p.add_argument("files", nargs="+")
    return p.parse_args(argv)


def peak_rss_kb(ru: "resource.struct_rusage") -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(ru.ru_maxrss)


class Mark:
    def __init__(self) -> None:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        self.wall = time.perf_counter()
        self.user = ru.ru_utime
        self.sys = ru.ru_stime
        self.maxrss_kb = peak_rss_kb(ru)


def report(peer: str, args: argparse.Namespace, start: Mark, end: Mark, up: int, down: int) -> None:
    out: Dict[str, Any] = {
        "peer": peer,
        "round_trips": args.repeat,
        "images": args.repeat * len(args.files),
        "wall_s": end.wall - start.wall,
        "user_s": end.user - start.user,
        "sys_s": end.sys - start.sys,
        "cpu_s": (end.user - start.user) + (end.sys - start.sys),
        "rss_start_kb": start.maxrss_kb,
        "rss_peak_kb": end.maxrss_kb,
        "bytes_up": up,
        "bytes_down": down,
    }
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


def file_bytes(files: List[str]) -> int:
    return sum(os.path.getsize(f) for f in files)
