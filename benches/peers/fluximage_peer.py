"""Our Python package: one fluximage.Client for the whole run; client.compress(files) then
result.read() for every result. See peer_common.py for the command line and figures."""

from __future__ import annotations

import fluximage

from peer_common import Mark, file_bytes, parse_args, report


def main() -> None:
    args = parse_args()
    client = fluximage.Client(
        args.key,
        base_url=args.base,
        ca_file=args.ca,
        concurrency=args.concurrency or None,
    )
    total = file_bytes(args.files)
    start = Mark()
    up = down = 0
    for _ in range(args.repeat):
        up += total
        batch = client.compress(args.files)
        for result in batch:
            if not result.ok:
                raise SystemExit(f"fluximage_peer: {result.input}: {result.error}")
            down += len(result.read())
        batch.close()
    end = Mark()
    report("fluximage-python", args, start, end, up, down)
    client.close()


if __name__ == "__main__":
    main()
