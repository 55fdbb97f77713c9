"""The pytest plugin as a user meets it: a project of its own, in a fresh virtual environment
with only the wheel (library and emulator bundled) and pytest installed, runs the README's
example tests through the fixtures; failures and interrupts leave no emulator running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

import readme
from conftest import EMULATOR, REPO
from test_install import BUILT, PY_DIR, can_build_without_isolation, run
from test_testing import alive, gone_within

@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `make python-wheel` makes: library and emulator bundled."""
    if not BUILT.is_file():
        pytest.fail("needs `make lib` (target/release/libfluximage.so)")
    out = tmp_path_factory.mktemp("wheel")
    env = dict(
        os.environ, FLUXIMAGE_BUNDLE_LIB=str(BUILT), FLUXIMAGE_BUNDLE_EMULATOR=str(EMULATOR)
    )
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(PY_DIR)]
    if can_build_without_isolation():
        cmd.insert(4, "--no-build-isolation")
    run(cmd, env=env)
    (found,) = out.glob("fluximage-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel (offline) and pytest (from the index)."""
    where = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", str(where)])
    python = where / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run([*pip, "--no-index", str(wheel)])
    run([*pip, "pytest>=7"])
    return where


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's project: the README's module and its tests."""
    files = readme.files("Testing your integration")
    assert set(files) == {"uploads.py", "test_uploads.py"}, files.keys()
    for name, code in files.items():
        (tmp_path / name).write_text(code)
    return tmp_path


def user_env(venv: Path, **extra: str) -> Dict[str, str]:
    """No hint of the checkout: no FLUXIMAGE_* variables, no build tree on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FLUXIMAGE_", "PYTEST_")) and k not in ("PYTHONPATH", "LD_LIBRARY_PATH")
    }
    env.update(PATH=f"{venv / 'bin'}:/usr/bin:/bin", **extra)
    return env


def pytest_in(venv: Path, project: Path, *args: str, **env: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=user_env(venv, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )


RECORD = '''
import os
from pathlib import Path

def test_records_the_emulator(fluximage_emulator):
    Path(os.environ["RECORD"]).write_text(str(fluximage_emulator.pid))
    import fluximage.testing
    Path(os.environ["RECORD"] + ".bin").write_text(fluximage.testing.find_emulator())

def test_that_fails(fluximage_client):
    assert fluximage_client.usage().plan == "free"
'''


def test_the_wheel_bundles_the_emulator_and_registers_the_plugin(wheel: Path) -> None:
    z = zipfile.ZipFile(wheel)
    names = z.namelist()
    assert "fluximage/fluximage-emulator" in names and "fluximage/pytest_plugin.py" in names
    mode = z.getinfo("fluximage/fluximage-emulator").external_attr >> 16
    assert mode & 0o111, oct(mode)
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = z.read(entry_points).decode()
    assert "[pytest11]" in text and "fluximage = fluximage.pytest_plugin" in text


def test_the_readme_tests_pass_in_a_project_with_the_installed_wheel(
    venv: Path, project: Path
) -> None:
    (project / "test_record.py").write_text(RECORD)
    record = project / "record.txt"
    out = pytest_in(venv, project, RECORD=str(record))
    # The README's two tests pass; the deliberately failing one fails with a real answer.
    assert out.returncode == 1, out.stdout + out.stderr
    assert re.search(r"\b1 failed, 3 passed\b", out.stdout), out.stdout + out.stderr
    assert "assert 'agency' == 'free'" in out.stdout
    pid = int(record.read_text())
    # The bundled emulator was used, and it is gone with the session.
    assert Path((project / "record.txt.bin").read_text()).parent == next(
        venv.glob("lib/python3*/site-packages/fluximage")
    )
    assert gone_within(pid, 5)


def test_without_an_emulator_the_tests_fail_saying_how_to_install_it_or_skip(
    venv: Path, project: Path
) -> None:
    out = pytest_in(venv, project, FLUXIMAGE_EMULATOR="/nowhere/fluximage-emulator")
    assert out.returncode == 1
    assert "FLUXIMAGE_EMULATOR=/nowhere/fluximage-emulator: no executable file there" in out.stdout
    assert re.search(r"\b2 errors?\b", out.stdout), out.stdout
    out = pytest_in(venv, project, "-rs", FLUXIMAGE_EMULATOR="skip")
    assert out.returncode == 0
    assert "2 skipped" in out.stdout and "FLUXIMAGE_EMULATOR=skip" in out.stdout, out.stdout


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_session_leaves_no_emulator(
    venv: Path, project: Path, how: signal.Signals
) -> None:
    record = project / "record.txt"
    (project / "test_slow.py").write_text(
        "import os, time\n"
        "from pathlib import Path\n"
        "def test_slow(fluximage_emulator):\n"
        "    Path(os.environ['RECORD']).write_text(str(fluximage_emulator.pid))\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_slow.py"],
        cwd=project,
        env=user_env(venv, RECORD=str(record)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        end = time.monotonic() + 60
        while not (record.exists() and record.read_text()) and time.monotonic() < end:
            assert proc.poll() is None, "pytest ended early"
            time.sleep(0.05)
        pid = int(record.read_text())
        assert alive(pid)
        proc.send_signal(how)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert gone_within(pid, 10), f"the emulator outlived pytest after {how.name}"


def test_a_project_can_start_the_emulator_its_own_way(venv: Path, tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "import pytest\n\n"
        "@pytest.fixture(scope='session')\n"
        "def fluximage_emulator_options():\n"
        "    return {'tls': True, 'keys': {'pro': 'flx_live_' + 'ab' * 20}}\n"
    )
    (tmp_path / "test_tls.py").write_text(
        "def test_https(fluximage_emulator, fluximage_client):\n"
        "    assert fluximage_emulator.base_url.startswith('https://')\n"
        "    assert fluximage_client.usage().plan == 'agency'\n"
        "    with fluximage_emulator.client('pro') as pro:\n"
        "        assert pro.usage().plan == 'pro'\n"
        "    assert fluximage_emulator.key('pro') == 'flx_live_' + 'ab' * 20\n"
    )
    out = pytest_in(venv, tmp_path)
    assert out.returncode == 0 and "1 passed" in out.stdout, out.stdout + out.stderr
