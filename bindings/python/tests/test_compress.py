"""compress(), compress_file(), results and downloads, against the emulator."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import fluximage
from conftest import AGENCY_KEY, FREE_KEY, Emulator
from images import png, png_size, sniff


@pytest.mark.parametrize("fmt", ["webp", "avif", "jpg", "png"])
def test_each_format(client: fluximage.Client, fmt: fluximage.Format) -> None:
    src = png(64, 48)
    batch = client.compress(src, format=fmt)
    assert len(batch) == 1 and batch.ok
    r = batch[0]
    assert r.ok and r.error is None
    assert r.format == fmt
    assert r.name == f"image-1.{fmt}"
    assert (r.width, r.height) == (64, 48)
    assert r.original_size == len(src)
    data = r.read()
    assert sniff(data) == fmt
    assert r.size == len(data)
    assert r.savings is not None and r.savings == pytest.approx(1 - len(data) / len(src))
    assert r.url and r.url.startswith("http://127.0.0.1")
    assert r.expires_at is not None and r.expires_at.tzinfo is not None


def test_paths_and_bytes_in_one_call(client: fluximage.Client, tmp_path: Path) -> None:
    a = tmp_path / "a.png"
    a.write_bytes(png(seed=1))
    b = tmp_path / "b.png"
    b.write_bytes(png(seed=2))
    batch = client.compress(
        [a, str(b), png(seed=3), fluximage.NamedBytes("d.png", png(seed=4))], format="png"
    )
    assert [r.ok for r in batch] == [True] * 4
    assert [r.input for r in batch] == [str(a), str(b), "image-3", "d.png"]
    assert [r.original_name for r in batch] == ["a.png", "b.png", "image-3", "d.png"]
    assert [r.name for r in batch] == ["a.png", "b.png", "image-3.png", "d.png"]
    assert batch[1:3] == [batch[1], batch[2]]
    for r in batch:
        assert png_size(r.read()) == (64, 48)


def test_single_path_input(client: fluximage.Client, tmp_path: Path) -> None:
    src = tmp_path / "one.png"
    src.write_bytes(png())
    batch = client.compress(src)
    assert len(batch) == 1 and batch[0].name == "one.webp"


def test_str_paths_and_path_objects_give_the_same_batch(
    client: fluximage.Client, tmp_path: Path
) -> None:
    # A list or tuple of str paths takes a shorter way into the library than other inputs.
    a, b = tmp_path / "café.png", tmp_path / "b.png"
    a.write_bytes(png())
    b.write_bytes(png(20, 10))
    for given in ([str(a), str(b)], (str(a), str(b)), str(a), [a, b], [str(a), b]):
        batch = client.compress(given)
        assert [r.input for r in batch] == [str(a), str(b)][: len(batch)], given
        assert [r.name for r in batch] == ["café.webp", "b.webp"][: len(batch)], given
        assert batch.ok and batch[0].read()[:4] == b"RIFF"
    with pytest.raises(fluximage.InvalidArgumentError):
        client.compress([])


def test_quality_changes_the_size(client: fluximage.Client) -> None:
    src = png(96, 96, noise=120)
    low = client.compress(src, format="jpg", quality=40)[0]
    high = client.compress(src, format="jpg", quality=100)[0]
    assert low.size is not None and high.size is not None
    assert low.size < high.size


@pytest.mark.parametrize(
    "limits, expected",
    [
        ({"max_width": 32}, (32, 24)),
        ({"max_height": 12}, (16, 12)),
        ({"max_width": 40, "max_height": 10}, (13, 10)),
        ({"max_width": 1000}, (64, 48)),  # never enlarges
    ],
)
def test_max_size(
    client: fluximage.Client, limits: dict[str, int], expected: tuple[int, int]
) -> None:
    r = client.compress(png(64, 48), format="png", **limits)[0]  # type: ignore[arg-type]
    assert (r.width, r.height) == expected
    assert png_size(r.read()) == expected


def test_session_id(client: fluximage.Client) -> None:
    batch = client.compress(png(), session_id="my-session-42")
    assert batch.session_id == "my-session-42"
    assert json.loads(batch.raw_json)["sessionId"] == "my-session-42"


def test_server_picks_a_session_id(client: fluximage.Client) -> None:
    batch = client.compress(png())
    assert batch.session_id
    assert batch.session_id in batch.raw_json


def test_watermark(client: fluximage.Client, tmp_path: Path) -> None:
    mark = tmp_path / "mark.png"
    mark.write_bytes(png(16, 16, seed=9, noise=0))
    src = png(64, 48, noise=0)
    plain = client.compress(src, format="png")[0].read()
    marked = client.compress(
        src, format="png", watermark=fluximage.Watermark(mark, scale=50, opacity=100, position="TL")
    )[0].read()
    assert png_size(marked) == (64, 48)
    assert marked != plain
    # A bare path means the default scale, opacity and position.
    assert client.compress(src, format="png", watermark=mark)[0].ok


def test_watermark_position_is_checked(client: fluximage.Client, tmp_path: Path) -> None:
    mark = tmp_path / "mark.png"
    mark.write_bytes(png(8, 8))
    with pytest.raises(fluximage.InvalidArgumentError, match="position"):
        client.compress(png(), watermark=fluximage.Watermark(mark, position="XX"))  # type: ignore[arg-type]
    with pytest.raises(fluximage.InvalidArgumentError, match="scale"):
        client.compress(png(), watermark=fluximage.Watermark(mark, scale=90))


def test_ai_alt_text_and_seo_name(client: fluximage.Client) -> None:
    r = client.compress(png(), alt_text=True, seo_rename=True)[0]
    assert r.alt_text and isinstance(r.alt_text, str)
    assert r.seo_name and r.seo_name.endswith(".webp")
    only_alt = client.compress(png(), alt_text=True)[0]
    assert only_alt.alt_text and only_alt.seo_name is None
    neither = client.compress(png())[0]
    assert neither.alt_text is None and neither.seo_name is None


def test_batch_of_30_with_a_broken_image(
    client: fluximage.Client, emu: Emulator, tmp_path: Path
) -> None:
    paths = []
    for i in range(30):
        p = tmp_path / f"img{i:02d}.png"
        p.write_bytes(b"this is not an image" if i == 17 else png(24, 16, seed=i))
        paths.append(p)
    batch = client.compress(paths, format="webp")
    assert len(batch) == 30
    assert [r.input for r in batch] == [str(p) for p in paths]
    assert not batch.ok
    assert [r.index for r in batch.failed] == [17]
    broken = batch[17]
    assert isinstance(broken.error, fluximage.ServerError)
    assert "decode" in str(broken.error)
    assert broken.name is None and broken.url is None and broken.size is None
    with pytest.raises(fluximage.ServerError, match="decode"):
        broken.read()
    for i, r in enumerate(batch):
        if i != 17:
            assert r.ok and r.name == f"img{i:02d}.webp" and (r.width, r.height) == (24, 16)
    # 30 files travel as two requests (at most 20 each); both answers are kept.
    answers = json.loads(batch.raw_json)
    assert isinstance(answers, list) and len(answers) == 2
    assert emu.stats()["requests"]["compress"] == 2
    assert emu.stats()["credits"][AGENCY_KEY]["compress"] == 29  # the broken one is refunded


def test_unreadable_file_fails_only_its_item(client: fluximage.Client, tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    good.write_bytes(png())
    batch = client.compress([tmp_path / "missing.png", good])
    assert isinstance(batch[0].error, fluximage.FileError)
    assert isinstance(batch[0].error, OSError)
    assert batch[1].ok


def test_too_large_file_fails_only_its_item(client: fluximage.Client) -> None:
    batch = client.compress([b"\0" * (20 * 1024 * 1024 + 1), png()])
    assert isinstance(batch[0].error, fluximage.PayloadTooLargeError)
    assert batch[1].ok


def test_save_to_a_file_and_to_a_folder(client: fluximage.Client, tmp_path: Path) -> None:
    r = client.compress(fluximage.NamedBytes("cat.png", png()), format="avif")[0]
    data = r.read()
    to_file = r.save(tmp_path / "out.avif")
    assert to_file == tmp_path / "out.avif" and to_file.read_bytes() == data
    folder = tmp_path / "folder"
    folder.mkdir()
    in_folder = r.save(folder)
    assert in_folder == folder / "cat.avif" and in_folder.read_bytes() == data
    assert sorted(p.name for p in folder.iterdir()) == ["cat.avif"]  # no temporary file left


def test_save_never_overwrites_the_input(client: fluximage.Client, tmp_path: Path) -> None:
    src = tmp_path / "keep.png"
    original = png()
    src.write_bytes(original)
    r = client.compress(src, format="png")[0]
    with pytest.raises(fluximage.InvalidArgumentError):
        r.save(src)
    assert src.read_bytes() == original


def test_compress_file(client: fluximage.Client, tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    src.write_bytes(png())
    dst = client.compress_file(src, tmp_path / "out.jpg", format="jpg", quality=60, max_width=32)
    assert dst == tmp_path / "out.jpg"
    assert sniff(dst.read_bytes()) == "jpg"
    with pytest.raises(fluximage.InvalidArgumentError):
        client.compress_file(src, src)
    assert src.read_bytes() == png()


def test_compress_file_raises_the_image_error(client: fluximage.Client, tmp_path: Path) -> None:
    src = tmp_path / "broken.png"
    src.write_bytes(b"garbage")
    dst = tmp_path / "out.webp"
    with pytest.raises(fluximage.ServerError, match="decode"):
        client.compress_file(src, dst)
    assert not dst.exists()


def test_compress_file_into_a_missing_folder(
    client: fluximage.Client, emu: Emulator, tmp_path: Path
) -> None:
    src = tmp_path / "in.png"
    src.write_bytes(png())
    (tmp_path / "plain").write_bytes(b"a file, not a folder")
    with pytest.raises(fluximage.FileError, match="plain"):
        client.compress_file(src, tmp_path / "plain" / "out.webp")
    assert emu.stats()["requests"]["compress"] == 0  # checked before anything was uploaded
    # A missing folder is created, as for every save (issue 12.2).
    out = client.compress_file(src, tmp_path / "no" / "such" / "out.webp")
    assert out.is_file()


def test_closed_batch(client: fluximage.Client) -> None:
    with client.compress(png()) as batch:
        r = batch[0]
    assert r.name == "image-1.webp"  # what was read stays readable
    with pytest.raises(fluximage.InvalidArgumentError, match="closed"):
        r.read()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"quality": 39}, "quality"),
        ({"quality": 101}, "quality"),
        ({"format": "gif"}, "format"),
        ({"max_width": -1}, "max_width"),
        ({"max_height": 70000}, "max_height"),
        ({"session_id": ""}, "session_id"),
    ],
)
def test_options_are_checked_before_sending(
    client: fluximage.Client, emu: Emulator, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(fluximage.InvalidArgumentError, match=match) as info:
        client.compress(png(), **kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    assert info.value.http_status is None
    assert emu.stats()["requests"]["compress"] == 0


def test_bad_inputs(client: fluximage.Client) -> None:
    with pytest.raises(fluximage.InvalidArgumentError, match="no input"):
        client.compress([])
    with pytest.raises(fluximage.InvalidArgumentError, match="int"):
        client.compress([42])  # type: ignore[list-item]
    with pytest.raises(fluximage.InvalidArgumentError, match="empty"):
        client.compress(b"")


def test_jpeg_alias(client: fluximage.Client) -> None:
    assert client.compress(png(), format="JPEG")[0].format == "jpg"  # type: ignore[arg-type]


def test_key_and_url_from_the_environment(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUXIMAGE_API_KEY", FREE_KEY)
    monkeypatch.setenv("FLUXIMAGE_BASE_URL", emu.base_url)
    with fluximage.Client() as c:
        assert c.usage().plan == "free"


def test_client_settings(emu: Emulator) -> None:
    with fluximage.Client(
        AGENCY_KEY,
        base_url=emu.base_url,
        timeout=fluximage.Timeout(connect=5, read=30, total=60),
        retries=1,
        concurrency=4,
    ) as c:
        assert c.compress([png(seed=i) for i in range(3)]).ok
    with fluximage.Client(AGENCY_KEY, base_url=emu.base_url, timeout=12.5) as c:
        assert c.usage().plan == "agency"
    for bad in (
        {"concurrency": 0},
        {"concurrency": 17},
        {"retries": -1},
        {"timeout": 0},
        {"timeout": -2.0},
    ):
        with pytest.raises(fluximage.InvalidArgumentError):
            fluximage.Client(AGENCY_KEY, base_url=emu.base_url, **bad)  # type: ignore[arg-type]


def test_plain_http_only_for_loopback() -> None:
    with pytest.raises(fluximage.InvalidArgumentError, match="http"):
        fluximage.Client(AGENCY_KEY, base_url="http://example.com")


def test_malformed_key() -> None:
    with pytest.raises(fluximage.InvalidArgumentError, match="flx_live_"):
        fluximage.Client("sk_not_a_key")


def test_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLUXIMAGE_API_KEY", raising=False)
    with pytest.raises(fluximage.InvalidArgumentError, match="FLUXIMAGE_API_KEY"):
        fluximage.Client()


def test_proxy_is_used(emu: Emulator) -> None:
    # A proxy that is not there: a remote request must go to it, and fail, rather than directly
    # (directly, the made-up host would not be found).
    with fluximage.Client(
        AGENCY_KEY, base_url="https://fluximage.invalid", proxy="http://127.0.0.1:9", retries=0
    ) as c:
        with pytest.raises(fluximage.ConnectionError) as err:
            c.usage()
        assert "host not found" not in str(err.value)
    # Loopback targets never go through a proxy, so the key never crosses one in clear.
    with fluximage.Client(
        AGENCY_KEY, base_url=emu.base_url, proxy="http://127.0.0.1:9", retries=0
    ) as c:
        assert c.usage().plan == "agency"
    assert emu.stats()["requests"]["usage"] == 1


def test_socks_proxy_is_refused() -> None:
    with pytest.raises(fluximage.InvalidArgumentError, match="SOCKS"):
        fluximage.Client(AGENCY_KEY, base_url="https://fluximage.invalid", proxy="socks5://127.0.0.1:1080")


def test_close(emu: Emulator) -> None:
    c = fluximage.Client(AGENCY_KEY, base_url=emu.base_url)
    batch = c.compress(png())
    c.close()
    c.close()  # harmless
    assert c.closed and "closed" in repr(c)
    with pytest.raises(fluximage.InvalidArgumentError, match="client is closed"):
        c.compress(png())
    with pytest.raises(fluximage.InvalidArgumentError, match="client is closed"):
        batch[0].read()
    assert batch[0].name == "image-1.webp"
    with fluximage.Client(AGENCY_KEY, base_url=emu.base_url) as c2:
        assert not c2.closed
    assert c2.closed


def test_usage(emu: Emulator) -> None:
    with fluximage.Client(FREE_KEY, base_url=emu.base_url) as c:
        before = c.usage()
        assert before == fluximage.Usage(
            plan="free",
            compressions_used=0,
            compressions_limit=20,
            ai_credits_used=0,
            ai_credits_monthly=0,
            ai_topup_credits=0,
            ai_credits_remaining=0,
            can_compress=True,
            can_use_ai=False,
            raw_json=before.raw_json,
        )
        assert json.loads(before.raw_json)["compressor_limit"] == 20
        c.compress([png(seed=1), png(seed=2), b"broken"])
        after = c.usage()
        assert after.compressions_used == 2
    with fluximage.Client(AGENCY_KEY, base_url=emu.base_url) as c:
        u = c.usage()
        assert u.plan == "agency" and u.can_use_ai is True and u.compressions_limit == 99999
        assert u.ai_credits_monthly == 10000
        with pytest.raises(AttributeError):
            u.plan = "free"  # type: ignore[misc]


def test_user_agent_names_the_package_and_the_application(emu: Emulator) -> None:
    with fluximage.Client(AGENCY_KEY, base_url=emu.base_url, user_agent="krita-plugin/1.0") as c:
        c.usage()
    agent = emu.stats()["last_user_agent"]
    assert agent.startswith("libfluximage/"), agent
    assert agent.endswith(f" fluximage-python/{fluximage.__version__} krita-plugin/1.0"), agent


# ----- where results land (issue 12) --------------------------------------------------------


def test_save_never_replaces_an_existing_file(
    client: fluximage.Client, emu: Emulator, tmp_path: Path
) -> None:
    src = tmp_path / "a.jpg"
    src.write_bytes(png())
    unrelated = tmp_path / "a.webp"
    unrelated.write_bytes(b"an unrelated lossless original")
    r = client.compress(src)[0]
    with pytest.raises(fluximage.ExistsError, match="a.webp already exists") as info:
        r.save(tmp_path)
    assert isinstance(info.value, FileExistsError)
    assert emu.stats()["requests"]["download"] == 0  # refused before downloading
    assert unrelated.read_bytes() == b"an unrelated lossless original"
    assert r.save(tmp_path, exists="rename") == tmp_path / "a-2.webp"
    assert r.save(tmp_path, exists="overwrite") == unrelated
    assert sniff(unrelated.read_bytes()) == "webp"
    with pytest.raises(fluximage.InvalidArgumentError, match="exists must be one of"):
        r.save(tmp_path, exists="replace")  # type: ignore[arg-type]


def test_two_results_with_one_name_are_two_files(client: fluximage.Client, tmp_path: Path) -> None:
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "cover.jpg").write_bytes(png(seed=len(sub) + ord(sub)))
    batch = client.compress([tmp_path / "x" / "cover.jpg", tmp_path / "y" / "cover.jpg"])
    out = tmp_path / "out"
    first = batch[0].save(f"{out}/")  # a missing folder is created
    assert first == out / "cover.webp"
    kept = first.read_bytes()
    with pytest.raises(fluximage.ExistsError, match="another result of this batch"):
        batch[1].save(out, exists="overwrite")
    assert first.read_bytes() == kept
    assert batch[1].save(out, exists="rename") == out / "cover-2.webp"


def test_save_into_a_missing_folder_creates_it(client: fluximage.Client, tmp_path: Path) -> None:
    r = client.compress(png())[0]
    written = r.save(tmp_path / "a" / "b" / "c.webp")
    assert written == tmp_path / "a" / "b" / "c.webp" and written.is_file()
    (tmp_path / "plain").write_bytes(b"x")
    with pytest.raises(fluximage.FileError, match="is a file, not a folder"):
        r.save(f"{tmp_path / 'plain'}/")


def test_compress_into_a_folder_saves_during_the_call_and_spends_nothing_on_taken_names(
    client: fluximage.Client, emu: Emulator, tmp_path: Path
) -> None:
    for name, seed in (("a.jpg", 1), ("b.jpg", 2)):
        (tmp_path / name).write_bytes(png(seed=seed))
    out = tmp_path / "out" / "deeper"
    out.mkdir(parents=True)
    (out / "b.webp").write_bytes(b"mine")
    batch = client.compress([tmp_path / "a.jpg", str(tmp_path / "b.jpg")], output_dir=out)
    assert batch[0].ok and batch[0].path == out / "a.webp"
    assert sniff((out / "a.webp").read_bytes()) == "webp"
    assert isinstance(batch[1].error, fluximage.ExistsError) and batch[1].path is None
    assert "not sent" in str(batch[1].error)
    assert (out / "b.webp").read_bytes() == b"mine"
    assert emu.stats()["requests"]["compress"] == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.webp", "b.webp"]

    # Every name taken: the call raises, nothing is sent, and the batch says why per input.
    with pytest.raises(fluximage.ExistsError) as info:
        client.compress([tmp_path / "a.jpg", tmp_path / "b.jpg"], output_dir=out)
    assert info.value.batch is not None and all(r.path is None for r in info.value.batch)
    assert emu.stats()["requests"]["compress"] == 1
    renamed = client.compress([tmp_path / "a.jpg"], output_dir=out, exists="rename")
    assert renamed[0].path == out / "a-2.webp"
    with pytest.raises(fluximage.InvalidArgumentError, match="exists must be one of"):
        client.compress(tmp_path / "a.jpg", output_dir=out, exists="replace")  # type: ignore[arg-type]
    with pytest.raises(fluximage.InvalidArgumentError, match="output_dir is empty"):
        client.compress(tmp_path / "a.jpg", output_dir="")
    # Without output_dir nothing is saved during the call.
    assert client.compress(tmp_path / "a.jpg")[0].path is None


def test_dimensions_come_from_the_image_when_the_server_omits_them(tmp_path: Path) -> None:
    from conftest import start_emulator

    emu = start_emulator("--encode", "none")
    try:
        with fluximage.Client(AGENCY_KEY, base_url=emu.base_url) as c:
            r = c.compress(png(37, 23), format="png")[0]
            assert r.width is None and r.dimensions is None
            assert r.format == "png"
            before = hash(r)
            r.save(tmp_path)
            assert r.dimensions == (37, 23)
            # Fields, once read, stay as they were: the result is still equal to itself.
            assert r.width is None and hash(r) == before
    finally:
        emu.stop()


def test_compress_options_object_and_keywords(client: fluximage.Client) -> None:
    opts = fluximage.CompressOptions(format="png", max_width=20)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.quality = 50  # type: ignore[misc]
    r = client.compress(png(40, 30), opts)[0]
    assert (r.format, r.width, r.height) == ("png", 20, 15)
    r = client.compress(png(40, 30), opts, format="jpg")[0]  # a keyword overrides the object
    assert (r.format, r.width) == ("jpg", 20)
    with pytest.raises(fluximage.InvalidArgumentError, match="quality"):
        client.compress(png(), fluximage.CompressOptions(quality=101))
    with pytest.raises(fluximage.InvalidArgumentError, match="CompressOptions"):
        client.compress(png(), {"format": "png"})  # type: ignore[arg-type]
