"""The Python requests peer: one requests.Session (keep-alive pool) for the whole run; a
multipart POST with the files, r.json(), then each signed URL fetched with the same session
(without the Authorization header, as the API requires) and read into memory (r.content).
See peer_common.py for the command line and figures."""

from __future__ import annotations

import os

import requests

from peer_common import Mark, file_bytes, parse_args, report

MAX_FILES = 20
CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


def main() -> None:
    args = parse_args()
    session = requests.Session()
    verify = args.ca if args.ca else True
    api = args.base.rstrip("/") + "/api/compress"
    auth = {"Authorization": "Bearer " + args.key}
    total = file_bytes(args.files)
    start = Mark()
    up = down = 0
    for _ in range(args.repeat):
        up += total
        for first in range(0, len(args.files), MAX_FILES):
            chunk = args.files[first : first + MAX_FILES]
            handles = [open(p, "rb") for p in chunk]
            try:
                files = [
                    (
                        "file",
                        (
                            os.path.basename(p),
                            h,
                            CONTENT_TYPES.get(os.path.splitext(p)[1].lower(), "application/octet-stream"),
                        ),
                    )
                    for p, h in zip(chunk, handles)
                ]
                r = session.post(
                    api, headers=auth, data={"format": "webp", "quality": "82"}, files=files, verify=verify, timeout=600
                )
            finally:
                for h in handles:
                    h.close()
            r.raise_for_status()
            results = r.json()["results"]
            if len(results) != len(chunk) or any("url" not in e for e in results):
                raise SystemExit(f"requests_peer: unexpected answer: {r.text[:300]}")
            for e in results:
                d = session.get(e["url"], verify=verify, timeout=600)
                d.raise_for_status()
                down += len(d.content)
    end = Mark()
    report("requests", args, start, end, up, down)


if __name__ == "__main__":
    main()
