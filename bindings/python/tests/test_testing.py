"""fluximage.testing.Emulator: starts the real emulator, drives it, and never leaves it running;
find_emulator looks where its docstring says, in that order."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict

import pytest

import fluximage
import readme
from conftest import AGENCY_KEY, EMULATOR
from fluximage.testing import Emulator, EmulatorError, find_emulator
from images import png

LIB = Path(fluximage.library_path)


@pytest.fixture(autouse=True)
def emulator_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    """The binary under test, wherever the library was loaded from."""
    monkeypatch.setenv("FLUXIMAGE_EMULATOR", str(EMULATOR))


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def gone_within(pid: int, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


def test_an_emulator_serves_a_client_and_counts_what_it_did(tmp_path: Path) -> None:
    with Emulator() as emu:
        assert emu.base_url.startswith("http://127.0.0.1:")
        assert set(emu.keys) == {"free", "starter", "pro", "agency"}
        assert emu.key() == emu.keys["agency"] == AGENCY_KEY
        with emu.client(retries=0) as client:
            batch = client.compress(fluximage.NamedBytes("cat.png", png(20, 20)))
            assert batch.ok and batch[0].url is not None
            assert batch[0].url.startswith(emu.download_url)
            batch[0].save(tmp_path / "cat.webp")
            emu.fault("503", count=1, path="usage")
            with pytest.raises(fluximage.ServerError):
                client.usage()
        stats = emu.stats()
        assert stats.charged == 1 and stats.ai_charged == 0
        assert stats.requests["compress"] == 1 and stats.requests["usage"] == 1
        assert stats.requests["download"] == 1 and stats.token_leaks == 0
        assert stats.faults_applied == 1
        emu.reset()
        assert emu.stats().charged == 0
        pid = emu.pid
        assert pid is not None and alive(pid)
    assert emu.pid is None and not alive(pid)
    with pytest.raises(EmulatorError, match="not running"):
        emu.client()


def test_tls_gives_a_ca_file_the_client_trusts() -> None:
    with Emulator(tls=True) as emu:
        assert emu.base_url.startswith("https://") and emu.ca_file
        ca = Path(emu.ca_file)
        assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
        with emu.client(plan="pro") as client:
            assert client.usage().plan == "pro"
        with fluximage.Client(emu.key(), base_url=emu.base_url, retries=0) as untrusting:
            with pytest.raises(fluximage.TLSError):
                untrusting.usage()
        assert emu.stats().requests["usage"] == 1
    assert not ca.exists()  # its files are removed with it


def test_the_emulator_stops_when_the_block_raises() -> None:
    with pytest.raises(KeyError):
        with Emulator() as emu:
            pid = emu.pid
            assert pid is not None
            raise KeyError("a failing test")
    assert not alive(pid)


def test_an_emulator_that_cannot_start_says_why() -> None:
    with pytest.raises(EmulatorError, match="did not start.*unknown argument: --no-such-flag"):
        Emulator(args=["--no-such-flag"]).start()


def run_child(code: str, env: Dict[str, str]) -> "subprocess.Popen[str]":
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
def test_no_emulator_outlives_its_process(how: signal.Signals) -> None:
    env = dict(os.environ, FLUXIMAGE_EMULATOR=str(EMULATOR))
    child = run_child(
        """
        import time
        from fluximage.testing import Emulator
        with Emulator() as emu:
            print(emu.pid, flush=True)
            time.sleep(60)
        """,
        env,
    )
    assert child.stdout is not None
    pid = int(child.stdout.readline())
    assert alive(pid)
    child.send_signal(how)
    child.wait(timeout=20)
    assert gone_within(pid, 10), f"the emulator {pid} outlived its parent after {how.name}"


def fake_emulator(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "fluximage-emulator"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    return exe


def where_found(lib: Path, env_extra: Dict[str, str]) -> str:
    """find_emulator() in a fresh interpreter that loaded the library at ``lib``."""
    env = {k: v for k, v in os.environ.items() if k != "FLUXIMAGE_EMULATOR"}
    env.update({"FLUXIMAGE_LIB": str(lib), "PATH": "/usr/bin:/bin", **env_extra})
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from fluximage.testing import find_emulator, EmulatorError\n"
            "try:\n    print(find_emulator())\nexcept EmulatorError as e:\n    print(e)",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_find_emulator_order(tmp_path: Path) -> None:
    # An installed layout: PREFIX/lib/libfluximage.so and PREFIX/bin/fluximage-emulator.
    lib = tmp_path / "prefix" / "lib" / "libfluximage.so"
    lib.parent.mkdir(parents=True)
    shutil.copyfile(LIB, lib)
    installed = fake_emulator(tmp_path / "prefix" / "bin")
    on_path = fake_emulator(tmp_path / "path")
    named = fake_emulator(tmp_path / "named")
    path = f"{on_path.parent}:/usr/bin:/bin"

    # 1. FLUXIMAGE_EMULATOR wins over everything.
    assert where_found(lib, {"FLUXIMAGE_EMULATOR": str(named), "PATH": path}) == str(named)
    # 2. Beside the library: PREFIX/bin, and the library's own folder before it.
    assert where_found(lib, {"PATH": path}) == str(installed)
    beside = fake_emulator(lib.parent)
    assert where_found(lib, {"PATH": path}) == str(beside)
    beside.unlink()
    installed.unlink()
    # 3. PATH.
    assert where_found(lib, {"PATH": path}) == str(on_path)
    # Nowhere: the message lists where it looked and how to install it.
    message = where_found(lib, {})
    assert "cannot find the fluximage-emulator binary" in message
    assert str(lib.parent / "fluximage-emulator") in message
    assert "cargo install --path emulator" in message and "FLUXIMAGE_EMULATOR" in message
    # A wrong FLUXIMAGE_EMULATOR is an error, not a silent fallback.
    assert "no executable file" in where_found(lib, {"FLUXIMAGE_EMULATOR": str(tmp_path / "x")})


def test_find_emulator_in_this_process_honours_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUXIMAGE_EMULATOR", str(EMULATOR))
    assert find_emulator() == str(EMULATOR)


def test_the_readme_emulator_example_runs(tmp_path: Path) -> None:
    (script,) = readme.scripts("Testing your integration")
    (tmp_path / "example.py").write_text(script)
    env = dict(os.environ, FLUXIMAGE_EMULATOR=str(EMULATOR))
    out = subprocess.run(
        [sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "20"
    assert lines[1].startswith("https://127.0.0.1:") and AGENCY_KEY in lines[1]
