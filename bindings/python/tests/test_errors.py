"""Every exception class, each from a real answer (or failure) of the emulator."""

from __future__ import annotations

import builtins
import pickle
from pathlib import Path
from typing import Iterator

import pytest

import fluximage
from conftest import (
    AGENCY_KEY,
    EXHAUSTED_KEY,
    FREE_KEY,
    NO_AI_KEY,
    ROLLED_KEY,
    UNKNOWN_KEY,
    Emulator,
    start_emulator,
)
from images import png, sniff


def agency(emu: Emulator, **kw: object) -> fluximage.Client:
    return fluximage.Client(AGENCY_KEY, base_url=emu.base_url, retries=0, **kw)  # type: ignore[arg-type]


def assert_no_key(err: BaseException, key: str) -> None:
    assert key not in str(err) and key not in repr(err)


@pytest.mark.parametrize("key", [UNKNOWN_KEY, ROLLED_KEY])
def test_authentication_error(emu: Emulator, key: str) -> None:
    with fluximage.Client(key, base_url=emu.base_url) as c:
        with pytest.raises(fluximage.AuthenticationError) as info:
            c.compress(png())
        assert info.value.http_status == 401
        assert_no_key(info.value, key)
        with pytest.raises(fluximage.AuthenticationError):
            c.usage()


def test_permission_denied_error(emu: Emulator, tmp_path: Path) -> None:
    mark = tmp_path / "mark.png"
    mark.write_bytes(png(8, 8))
    with fluximage.Client(FREE_KEY, base_url=emu.base_url) as c:
        with pytest.raises(fluximage.PermissionDeniedError) as info:
            c.compress(png(), alt_text=True)
        assert info.value.http_status == 403
        assert "paid plan" in str(info.value)
        with pytest.raises(fluximage.PermissionDeniedError):
            c.compress(png(), watermark=mark)
    assert not isinstance(info.value, PermissionError)  # not a file-permission error


def test_quota_exceeded_error(emu: Emulator) -> None:
    with fluximage.Client(EXHAUSTED_KEY, base_url=emu.base_url) as c:
        assert c.usage().can_compress is False
        with pytest.raises(fluximage.QuotaExceededError) as info:
            c.compress(png())
        assert info.value.http_status == 402
    with fluximage.Client(NO_AI_KEY, base_url=emu.base_url) as c:
        with pytest.raises(fluximage.QuotaExceededError, match="AI"):
            c.compress(png(), seo_rename=True)


def test_rate_limit_error_with_retry_after(emu: Emulator) -> None:
    emu.fault("429", retry_after=7)
    with agency(emu) as c:
        with pytest.raises(fluximage.RateLimitError) as info:
            c.compress(png())
    assert info.value.http_status == 429
    assert info.value.retry_after == 7.0


def test_rate_limit_is_retried_by_the_library(emu: Emulator) -> None:
    emu.fault("429", retry_after=1)
    with fluximage.Client(AGENCY_KEY, base_url=emu.base_url, retries=1) as c:
        assert c.compress(png()).ok
    assert emu.stats()["requests"]["compress"] == 2


@pytest.mark.parametrize("session_id", ["s" * 220])
def test_bad_request_error(client: fluximage.Client, session_id: str) -> None:
    # The library allows session ids up to 256 characters; the emulator only 200.
    with pytest.raises(fluximage.BadRequestError) as info:
        client.compress(png(), session_id=session_id)
    assert info.value.http_status == 400
    assert "sessionId" in str(info.value)


def test_bad_request_error_for_a_watermark_that_is_not_png(
    client: fluximage.Client, tmp_path: Path
) -> None:
    mark = tmp_path / "mark.png"
    mark.write_text("not a PNG at all")
    with pytest.raises(fluximage.BadRequestError, match="PNG"):
        client.compress(png(), watermark=mark)


def test_payload_too_large_error(client: fluximage.Client, emu: Emulator) -> None:
    # The library checks the 20 MB limit before uploading, so this one never reaches the
    # server: http_status is None and nothing was sent.
    with pytest.raises(fluximage.PayloadTooLargeError, match="20 MB") as info:
        client.compress(b"\xff" * (20 * 1024 * 1024 + 1))
    assert info.value.http_status is None
    assert emu.stats()["requests"]["compress"] == 0


@pytest.mark.parametrize(
    "mode, status", [("503", 503), ("502", 502), ("504", 504), ("500-html", 500)]
)
def test_server_error(client: fluximage.Client, emu: Emulator, mode: str, status: int) -> None:
    emu.fault(mode)
    with pytest.raises(fluximage.ServerError) as info:
        client.compress(png())
    assert info.value.http_status == status


def test_server_error_for_an_undecodable_image(client: fluximage.Client) -> None:
    with pytest.raises(fluximage.ServerError) as info:
        client.compress(b"GIF89a but not really")
    assert info.value.batch is not None  # every image failed: the batch says why
    err = info.value.batch[0].error
    assert isinstance(err, fluximage.ServerError)
    assert "decode" in str(err)
    mixed = client.compress([b"GIF89a but not really", png()])  # one good: no exception
    assert isinstance(mixed[0].error, fluximage.ServerError) and mixed[1].ok


@pytest.mark.parametrize("mode", ["reset", "reset-early"])
def test_connection_error(client: fluximage.Client, emu: Emulator, mode: str) -> None:
    emu.fault(mode)
    with pytest.raises(fluximage.ConnectionError) as info:
        client.compress(png())
    assert isinstance(info.value, builtins.ConnectionError)
    assert info.value.http_status is None


def test_connection_error_when_nothing_listens() -> None:
    with fluximage.Client(AGENCY_KEY, base_url="http://127.0.0.1:9", retries=0) as c:
        with pytest.raises(builtins.ConnectionError):
            c.usage()


def test_timeout_error(emu: Emulator) -> None:
    emu.fault("stall", delay_ms=3000)
    with agency(emu, timeout=fluximage.Timeout(read=0.5)) as c:
        with pytest.raises(fluximage.TimeoutError) as info:
            c.compress(png())
    assert isinstance(info.value, builtins.TimeoutError)
    emu.fault("stall", delay_ms=3000, path="usage")
    with agency(emu, timeout=0.5) as c:
        with pytest.raises(TimeoutError):
            c.usage()


@pytest.fixture(scope="module")
def tls_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = start_emulator("--tls", "--tls-dir", str(tmp_path_factory.mktemp("tls")))
    yield emu
    emu.stop()


def test_tls_error_without_the_ca(tls_emulator: Emulator) -> None:
    assert tls_emulator.base_url.startswith("https://")
    with agency(tls_emulator) as c:
        with pytest.raises(fluximage.TLSError) as info:
            c.usage()
    assert isinstance(info.value, fluximage.ConnectionError)


def test_tls_works_with_ca_file(tls_emulator: Emulator, tmp_path: Path) -> None:
    assert tls_emulator.ca_file
    with agency(tls_emulator, ca_file=Path(tls_emulator.ca_file)) as c:
        r = c.compress(png(), format="png")[0]
        assert sniff(r.read()) == "png"
        assert r.save(tmp_path).is_file()


def test_ca_file_that_does_not_exist(emu: Emulator, tmp_path: Path) -> None:
    with pytest.raises(fluximage.FileError):
        agency(emu, ca_file=tmp_path / "missing.pem")


@pytest.mark.parametrize(
    "mode", ["truncated-json", "huge-json", "wrong-content-type", "redirect-foreign"]
)
def test_protocol_error(client: fluximage.Client, emu: Emulator, mode: str) -> None:
    emu.fault(mode)
    with pytest.raises(fluximage.ProtocolError):
        client.compress(png())
    assert emu.stats()["authorization_seen"]["foreign"] == 0  # the key never left


def test_result_expired_error(client: fluximage.Client, emu: Emulator, tmp_path: Path) -> None:
    r = client.compress(png())[0]
    emu.control("delete-results")
    with pytest.raises(fluximage.ResultExpiredError) as info:
        r.read()
    assert info.value.http_status in (403, 404, 410)
    with pytest.raises(fluximage.ResultExpiredError):
        r.save(tmp_path / "x.webp")
    assert not (tmp_path / "x.webp").exists()


def test_cancelled_error(client: fluximage.Client, emu: Emulator) -> None:
    emu.fault("stall", delay_ms=3000)
    with pytest.raises(fluximage.CancelledError):
        client.compress(png(), progress=lambda done, total: False)


def test_file_error(client: fluximage.Client, tmp_path: Path) -> None:
    with pytest.raises(fluximage.FileError, match="missing.png") as info:
        client.compress(tmp_path / "missing.png")
    assert isinstance(info.value, OSError)


def test_every_class_is_an_error_and_pickles() -> None:
    classes = [
        fluximage.InvalidArgumentError,
        fluximage.AuthenticationError,
        fluximage.PermissionDeniedError,
        fluximage.QuotaExceededError,
        fluximage.PayloadTooLargeError,
        fluximage.RateLimitError,
        fluximage.BadRequestError,
        fluximage.ServerError,
        fluximage.ConnectionError,
        fluximage.TimeoutError,
        fluximage.TLSError,
        fluximage.ProtocolError,
        fluximage.ResultExpiredError,
        fluximage.FileError,
        fluximage.CancelledError,
        fluximage.InternalError,
    ]
    for cls in classes:
        assert issubclass(cls, fluximage.Error)
        err = cls("message", status=1, http_status=418)
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is cls and str(back) == "message" and back.http_status == 418
    rl = pickle.loads(pickle.dumps(fluximage.RateLimitError("slow", retry_after=1.5)))
    assert rl.retry_after == 1.5
