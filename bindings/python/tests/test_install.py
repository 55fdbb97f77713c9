"""Packaging: the wheel bundles the library, and a fresh virtual environment can install the
wheel (offline) or the source folder, then run the README example against the emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Dict, Iterator

import pytest

import fluximage
from conftest import AGENCY_KEY, REPO, Emulator
from images import png, sniff

PY_DIR = REPO / "bindings" / "python"
BUILT = REPO / "target" / "release" / "libfluximage.so"


def run(cmd: list[str], **kw: object) -> "subprocess.CompletedProcess[str]":
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout}\n{out.stderr}"
    return out  # type: ignore[no-any-return]


def readme_example() -> str:
    text = (PY_DIR / "README.md").read_text()
    m = re.search(r"## Example\s+```python\n(.*?)```", text, flags=re.S)
    assert m, "README.md has no python block under '## Example'"
    return m.group(1)


def user_env(emu: Emulator) -> Dict[str, str]:
    """A user's environment: the key and URL set, no hint where the library is."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FLUXIMAGE_LIB", "LD_LIBRARY_PATH", "PYTHONPATH")
    }
    env.update(
        FLUXIMAGE_API_KEY=AGENCY_KEY,
        FLUXIMAGE_BASE_URL=emu.base_url,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    return env


def fresh_venv(where: Path) -> Path:
    run([sys.executable, "-m", "venv", str(where)])
    return where / "bin" / "python"


def run_readme(python: Path, emu: Emulator, workdir: Path) -> None:
    workdir.mkdir()
    (workdir / "photo.png").write_bytes(png(64, 48, seed=1))
    (workdir / "logo.png").write_bytes(png(32, 32, seed=2))
    (workdir / "example.py").write_text(readme_example())
    out = run([str(python), "example.py"], cwd=workdir, env=user_env(emu))
    assert out.stdout.split() == ["out/photo.webp", "out/logo.webp"]  # the paths written
    for name in ("photo.webp", "logo.webp"):
        assert sniff((workdir / "out" / name).read_bytes()) == "webp"
    where = run(
        [str(python), "-c", "import fluximage; print(fluximage.library_path)"],
        cwd=workdir,
        env=user_env(emu),
    )
    assert where.stdout.strip().startswith(str(python.parent.parent)), (
        "the bundled library was not used"
    )


def can_build_without_isolation() -> bool:
    try:
        import setuptools
        import wheel  # noqa: F401
    except ImportError:
        return False
    major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("wheel")
    env = dict(
        os.environ, FLUXIMAGE_BUNDLE_LIB=str(BUILT if BUILT.is_file() else fluximage.library_path)
    )
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "-w",
        str(out),
        str(PY_DIR),
    ]
    if can_build_without_isolation():
        cmd.insert(4, "--no-build-isolation")
    run(cmd, env=env)
    wheels = list(out.glob("fluximage-*.whl"))
    assert len(wheels) == 1, wheels
    yield wheels[0]


def test_wheel_is_platform_specific_and_bundles_the_library(wheel: Path) -> None:
    plat = re.sub(r"[-.]", "_", sysconfig.get_platform())
    assert wheel.name == f"fluximage-{fluximage.__version__}-py3-none-{plat}.whl"
    names = zipfile.ZipFile(wheel).namelist()
    for f in ("fluximage/__init__.py", "fluximage/py.typed", "fluximage/libfluximage.so"):
        assert f in names, f


def test_wheel_in_a_fresh_venv_runs_the_readme_example(
    wheel: Path, emu: Emulator, tmp_path: Path
) -> None:
    python = fresh_venv(tmp_path / "venv")
    run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-index", str(wheel)],
        env=user_env(emu),
    )
    run_readme(python, emu, tmp_path / "work")


def test_source_folder_in_a_fresh_venv_runs_the_readme_example(
    emu: Emulator, tmp_path: Path
) -> None:
    if not BUILT.is_file():
        pytest.skip("needs `make lib` (target/release/libfluximage.so) to bundle from the checkout")
    python = fresh_venv(tmp_path / "venv")
    # The ordinary way: pip fetches the build backend (setuptools) from PyPI.
    run([str(python), "-m", "pip", "install", "--quiet", str(PY_DIR)], env=user_env(emu))
    run_readme(python, emu, tmp_path / "work")
