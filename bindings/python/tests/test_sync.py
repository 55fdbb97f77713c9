"""client.sync(): mirrored trees, reruns, events, credits checked first, against the emulator."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import List, Union

import pytest

import fluximage
from conftest import FREE_KEY, Emulator
from images import png, sniff


def tree(root: Path, names: List[str]) -> None:
    for i, name in enumerate(names):
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(png(40, 30, seed=i + 1))


def compress_requests(emu: Emulator) -> int:
    return int(emu.stats()["requests"]["compress"])


def test_sync_mirrors_a_tree_and_a_rerun_sends_nothing(
    client: fluximage.Client, emu: Emulator, tmp_path: Path
) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    tree(src, ["a.png", "x/a.png", "x/y/a.png", "x/y/b.png"])
    seen: List[Union[fluximage.SyncPlan, fluximage.SyncEvent]] = []
    caller = threading.get_ident()
    threads = set()

    def on_event(e: Union[fluximage.SyncPlan, fluximage.SyncEvent]) -> None:
        threads.add(threading.get_ident())
        seen.append(e)

    report = client.sync(src, out, format="webp", on_event=on_event)
    assert isinstance(report, fluximage.SyncReport)
    assert (report.compressed, report.failed, report.requests, report.credits_spent) == (4, 0, 1, 4)
    assert report.plan.to_compress == 4 and report.plan.compressions_needed == 4
    assert threads == {caller}, "on_event runs on the calling thread"
    assert isinstance(seen[0], fluximage.SyncPlan)
    files = [e for e in seen if isinstance(e, fluximage.SyncEvent)]
    assert sorted(e.input for e in files) == ["a.png", "x/a.png", "x/y/a.png", "x/y/b.png"]
    assert all(e.outcome == "compressed" and e.output_size for e in files)
    assert [e.input for e in report] == [e.input for e in report.events]
    assert sniff((out / "x/y/b.webp").read_bytes()) == "webp"

    again = client.sync(src, out, format="webp")
    assert (again.up_to_date, again.compressed, again.requests) == (4, 0, 0)
    assert again.events == []
    assert compress_requests(emu) == 1

    # Other options redo everything; a deleted output is redone alone.
    assert client.sync(src, out, format="webp", quality=60).compressed == 4
    (out / "x/a.webp").unlink()
    r = client.sync(src, out, format="webp", quality=60)
    assert (r.compressed, r.up_to_date) == (1, 3)
    assert r.events[0].input == "x/a.png"


def test_sync_conflicts_dry_run_and_options(client: fluximage.Client, emu: Emulator, tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    tree(src, ["a.png", "a.jpg", "keep/b.png", "thumbs/t.png", ".hidden/h.png"])
    plan = client.sync(src, out, exclude=["thumbs"], dry_run=True)
    assert plan.plan.to_compress == 1 and plan.conflicts == 2
    conflict = next(e for e in plan.events if e.outcome == "conflict")
    assert conflict.reason and "map to the same output a.webp" in conflict.reason
    assert compress_requests(emu) == 0 and not out.exists()
    every = client.sync(src, out, include_hidden=True, include=["**/*.png"], dry_run=True)
    assert every.plan.to_compress == 4
    with pytest.raises(fluximage.InvalidArgumentError, match="if_larger"):
        client.sync(src, out, if_larger="bigger")
    with pytest.raises(fluximage.InvalidArgumentError, match="list of globs"):
        client.sync(src, out, include="*.png")
    with pytest.raises(fluximage.InvalidArgumentError, match="backup"):
        client.sync(src, src)
    with pytest.raises(fluximage.InvalidArgumentError, match="pattern"):
        client.sync(src, out, include=["{a,b"])


def test_sync_in_place_with_backup(client: fluximage.Client, emu: Emulator, tmp_path: Path) -> None:
    site, backup = tmp_path / "site", tmp_path / "backup"
    tree(site, ["img/a.png", "img/b.png"])
    originals = {p: (site / p).read_bytes() for p in ("img/a.png", "img/b.png")}
    r = client.sync(site, site, format="png", backup_dir=backup)
    assert r.compressed + r.kept_original == 2
    for p, data in originals.items():
        if (site / p).read_bytes() != data:
            assert (backup / p).read_bytes() == data, "a replaced original is backed up first"
    again = client.sync(site, site, format="png", backup_dir=backup)
    assert again.requests == 0 and again.up_to_date == 2


def test_sync_refuses_before_uploading_when_credits_are_short(emu: Emulator, tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    tree(src, [f"p{i:02}.png" for i in range(24)])
    with fluximage.Client(FREE_KEY, base_url=emu.base_url) as free:
        with pytest.raises(fluximage.QuotaExceededError, match="needs 24 compressions but the key has 20 left"):
            free.sync(src, out)
        assert compress_requests(emu) == 0
        r = free.sync(src, out, allow_partial=True)
        assert (r.compressed, r.not_done) == (20, 4)
        assert [e.input for e in r.events if e.outcome == "skipped"] == [f"p{i}.png" for i in range(20, 24)]


def test_on_event_returning_false_cancels(client: fluximage.Client, emu: Emulator, tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    tree(src, ["a.png", "b.png"])
    with pytest.raises(fluximage.CancelledError):
        client.sync(src, out, on_event=lambda e: not isinstance(e, fluximage.SyncPlan))
    assert compress_requests(emu) == 0, "stopped at the plan: nothing sent"

    class Boom(Exception):
        pass

    def explode(e: object) -> None:
        raise Boom()

    with pytest.raises(Boom):
        client.sync(src, out, on_event=explode)


def test_struct_flx_sync_event_matches_the_header() -> None:
    import re

    from fluximage import _lib
    from test_declarations import c_kind, header_text, py_kind, strip_name

    m = re.search(r"typedef struct flx_sync_event \{(.*?)\} flx_sync_event;", header_text(), flags=re.S)
    assert m, "struct flx_sync_event not found in the header"
    body = re.sub(r"/\*.*?\*/", " ", m.group(1), flags=re.S)
    fields = [f.strip() for f in body.split(";") if f.strip()]
    names = [re.findall(r"(\w+)$", f)[0] for f in fields]
    declared = _lib.flx_sync_event._fields_
    assert [n for n, _ in declared] == names
    enums = {"flx_sync_event_kind": "i32", "flx_status": "i32"}
    kinds = [enums.get(re.sub(r"^enum ", "", strip_name(f)), c_kind(strip_name(f))) for f in fields]
    assert [py_kind(t) for _, t in declared] == kinds


def test_a_broken_file_fails_alone_with_its_exception(
    client: fluximage.Client, emu: Emulator, tmp_path: Path
) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    tree(src, ["good.png"])
    (src / "broken.png").write_bytes(b"not an image")
    r = client.sync(src, out)
    assert (r.compressed, r.failed) == (1, 1)
    (failed,) = [e for e in r if e.outcome == "failed"]
    assert failed.input == "broken.png" and failed.output is None
    assert isinstance(failed.error, fluximage.ServerError)
    assert "decode" in str(failed.error)
