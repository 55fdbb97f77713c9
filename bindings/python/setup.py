"""Build glue for the parts pyproject.toml cannot say: bundling libfluximage.

When a libfluximage shared library is at hand, it is copied into the package and the wheel is
tagged for this platform (``py3-none-<platform>``: the library does not depend on the Python
version). Where it comes from, in order:

- ``FLUXIMAGE_BUNDLE_LIB=/path/to/libfluximage.so`` (``FLUXIMAGE_BUNDLE_LIB=none``: bundle
  nothing and build a pure-Python package that finds the library at run time);
- the repository's build tree, ``../../target/release/libfluximage.so`` (after ``make``);
- in an sdist, the Rust crate shipped beside this file in ``rust/`` (the output of
  ``cargo package``), built here as ``make lib`` builds it (``cargo rustc --crate-type cdylib
  --features log-off``: the smaller library, see the Makefile). This is a plain
  ``cargo`` call rather than setuptools-rust or maturin on purpose: the library is a C shared
  library loaded with ctypes, not a CPython extension, and those tools name and tag it as one
  (an ABI-specific file name and a ``cp3X`` wheel tag), while the wheel is ``py3-none``.

Without one, the package is pure Python and uses ``FLUXIMAGE_LIB`` or the system's library.

``FLUXIMAGE_BUNDLE_EMULATOR=/path/to/fluximage-emulator`` also bundles the emulator, which
``fluximage.testing`` then finds beside the library (``make python-wheel`` does this).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional, Tuple

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
LIBNAME = {"darwin": "libfluximage.dylib", "win32": "fluximage.dll"}.get(
    sys.platform, "libfluximage.so"
)


def bundled_lib() -> Optional[Path]:
    env = os.environ.get("FLUXIMAGE_BUNDLE_LIB")
    if env:
        if env.lower() == "none":
            return None
        path = Path(env)
        if not path.is_file():
            raise SystemExit(f"FLUXIMAGE_BUNDLE_LIB={env}: no such file")
        return path
    built = REPO / "target" / "release" / LIBNAME
    if built.is_file() and (REPO / "include" / "fluximage.h").is_file():
        return built
    if (HERE / "rust" / "Cargo.toml").is_file():
        return build_from_source()
    return None


_BUILT_FROM_SOURCE: Optional[Path] = None


def build_from_source() -> Path:
    """Builds the library from the crate shipped in the sdist (once per setup.py run)."""
    global _BUILT_FROM_SOURCE
    if _BUILT_FROM_SOURCE is not None:
        return _BUILT_FROM_SOURCE
    cargo = os.environ.get("CARGO", "cargo")
    if shutil.which(cargo) is None:
        raise SystemExit(
            "fluximage: building from source needs Rust's cargo (https://rustup.rs) on PATH; "
            "or install a binary wheel, or set FLUXIMAGE_BUNDLE_LIB=none and FLUXIMAGE_LIB "
            "to an installed libfluximage"
        )
    target = HERE / "rust" / "target"
    subprocess.run(
        [cargo, "rustc", "--release", "--locked", "--lib",
         "--crate-type", "cdylib", "--features", "log-off",
         "--manifest-path", str(HERE / "rust" / "Cargo.toml"), "--target-dir", str(target)],
        check=True,
    )
    _BUILT_FROM_SOURCE = target / "release" / LIBNAME
    return _BUILT_FROM_SOURCE


class BuildPy(build_py):
    """Copies the library into the built package."""

    def run(self) -> None:
        super().run()
        lib = bundled_lib()
        if lib is not None:
            dest = Path(self.build_lib) / "fluximage" / LIBNAME
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(lib, dest)  # follows symlinks: the real file, under the plain name
            os.chmod(dest, 0o755)
            print(f"bundling {lib} as {dest}")
        emulator = os.environ.get("FLUXIMAGE_BUNDLE_EMULATOR")
        if emulator:
            if lib is None or not Path(emulator).is_file():
                raise SystemExit(f"FLUXIMAGE_BUNDLE_EMULATOR={emulator}: no such file, or no library")
            dest = Path(self.build_lib) / "fluximage" / "fluximage-emulator"
            shutil.copyfile(emulator, dest)
            os.chmod(dest, 0o755)


class PlatformDistribution(Distribution):
    """A distribution that is platform-specific when it carries the library."""

    def has_ext_modules(self) -> bool:
        return bundled_lib() is not None


cmdclass: Any = {"build_py": BuildPy}

try:
    from setuptools.command.bdist_wheel import bdist_wheel as _bdist_wheel
except ImportError:  # setuptools < 70.1
    try:
        from wheel.bdist_wheel import bdist_wheel as _bdist_wheel
    except ImportError:
        _bdist_wheel = None

if _bdist_wheel is not None:

    class BdistWheel(_bdist_wheel):
        """Tags a wheel that carries the library py3-none-<platform>."""

        def finalize_options(self) -> None:
            super().finalize_options()
            self.root_is_pure = bundled_lib() is None

        def get_tag(self) -> Tuple[str, str, str]:
            python, abi, plat = super().get_tag()
            if not self.root_is_pure:
                return "py3", "none", plat
            return python, abi, plat

    cmdclass["bdist_wheel"] = BdistWheel

setup(cmdclass=cmdclass, distclass=PlatformDistribution)
