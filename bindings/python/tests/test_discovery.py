"""Finding the library: FLUXIMAGE_LIB, then the copy in the package, then the system."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import pytest

import fluximage
from conftest import REPO

BUILT = REPO / "target" / "release" / "libfluximage.so"
PACKAGE = Path(fluximage.__file__).resolve().parent


def library() -> Path:
    """A libfluximage.so to copy around: the build tree's, else the one the tests loaded."""
    return BUILT if BUILT.is_file() else Path(fluximage.library_path)


def package_copy(dest: Path, with_library: bool) -> Path:
    """A copy of the package's Python files (and maybe the library) under dest; returns dest."""
    pkg = dest / "fluximage"
    pkg.mkdir(parents=True)
    for f in PACKAGE.iterdir():
        if f.suffix in (".py", ".typed"):
            shutil.copy(f, pkg / f.name)
    if with_library:
        shutil.copyfile(library(), pkg / "libfluximage.so")
    return dest


def clean_env(**extra: Optional[str]) -> Dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FLUXIMAGE_LIB", "LD_LIBRARY_PATH", "PYTHONPATH")
    }
    for k, v in extra.items():
        if v is not None:
            env[k] = v
    return env


def load(path_dir: Path, env: Dict[str, str]) -> "subprocess.CompletedProcess[str]":
    """Imports fluximage from path_dir in a fresh interpreter; prints where the library was found."""
    code = "import fluximage; print(fluximage.library_path); print(fluximage.library_version)"
    return subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(path_dir)!r}); {code}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=path_dir,
    )


def system_has_library() -> bool:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import ctypes.util; print(ctypes.util.find_library('fluximage') or '')",
        ],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return bool(out.stdout.strip())


def test_fluximage_lib_comes_first(tmp_path: Path) -> None:
    base = package_copy(tmp_path / "pkg", with_library=True)
    other = tmp_path / "elsewhere" / "libfluximage-custom.so"
    other.parent.mkdir()
    shutil.copyfile(library(), other)
    out = load(base, clean_env(FLUXIMAGE_LIB=str(other)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == str(other)
    assert out.stdout.splitlines()[1] == fluximage.library_version


def test_fluximage_lib_that_does_not_load_is_an_import_error(tmp_path: Path) -> None:
    base = package_copy(tmp_path / "pkg", with_library=True)
    bad = tmp_path / "nope.so"
    out = load(base, clean_env(FLUXIMAGE_LIB=str(bad)))
    assert out.returncode != 0
    assert "ImportError" in out.stderr
    assert "FLUXIMAGE_LIB" in out.stderr and str(bad) in out.stderr


def test_the_copy_in_the_package_comes_next(tmp_path: Path) -> None:
    base = package_copy(tmp_path / "pkg", with_library=True)
    out = load(base, clean_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == str(base / "fluximage" / "libfluximage.so")


def test_then_the_system(tmp_path: Path) -> None:
    base = package_copy(tmp_path / "pkg", with_library=False)
    libdir = tmp_path / "syslib"
    libdir.mkdir()
    shutil.copyfile(library(), libdir / "libfluximage.so.0")
    os.symlink("libfluximage.so.0", libdir / "libfluximage.so")
    out = load(base, clean_env(LD_LIBRARY_PATH=str(libdir)))
    assert out.returncode == 0, out.stderr
    found = out.stdout.splitlines()[0]
    assert "libfluximage.so" in found and str(base) not in found


def test_nothing_found_lists_where_it_looked(tmp_path: Path) -> None:
    if system_has_library():
        pytest.skip("libfluximage is installed system-wide here, so it is always found")
    base = package_copy(tmp_path / "pkg", with_library=False)
    out = load(base, clean_env())
    assert out.returncode != 0
    err = out.stderr
    assert "ImportError: fluximage: cannot find the libfluximage shared library" in err
    for place in ("FLUXIMAGE_LIB", "the copy inside the package", "find_library", "search path"):
        assert place in err, place
    assert str(base / "fluximage" / "libfluximage.so") in err
