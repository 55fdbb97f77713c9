"""pytest fixtures for code that uses fluximage, registered by the package's ``pytest11`` entry
point: installing fluximage is enough, there is nothing to import.

Fixtures:

``fluximage_emulator``
    A :class:`fluximage.testing.Emulator`, started once per test session and reset before
    each test (queued faults, statistics and credits cleared).
``fluximage_client``
    A :class:`fluximage.Client` with the emulator's Agency key, closed after the test.
``fluximage_emulator_options``
    Session-scoped keyword arguments for the ``Emulator`` (default ``{}``); override it in a
    ``conftest.py`` to start it differently, e.g. ``{"tls": True}`` or
    ``{"args": ["--rate", "5"]}``.

The emulator binary is found as :func:`fluximage.testing.find_emulator` says. When it is
missing the tests using these fixtures fail with how to install it; with
``FLUXIMAGE_EMULATOR=skip`` they are skipped instead.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator

import pytest

from ._client import Client
from .testing import EMULATOR_ENV, Emulator, EmulatorError


@pytest.fixture(scope="session")
def fluximage_emulator_options() -> Dict[str, Any]:
    """Keyword arguments for the session's :class:`~fluximage.testing.Emulator`; override to
    change them."""
    return {}


@pytest.fixture(scope="session")
def _fluximage_emulator_server(
    fluximage_emulator_options: Dict[str, Any],
) -> Iterator[Emulator]:
    if os.environ.get(EMULATOR_ENV) == "skip":
        pytest.skip(f"{EMULATOR_ENV}=skip: tests that need the fluximage emulator are skipped")
    try:
        emu = Emulator(**fluximage_emulator_options).start()
    except EmulatorError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def fluximage_emulator(_fluximage_emulator_server: Emulator) -> Emulator:
    """The session's emulator, reset for this test: no queued faults, zeroed statistics,
    every account's credits restored."""
    _fluximage_emulator_server.reset()
    return _fluximage_emulator_server


@pytest.fixture
def fluximage_client(fluximage_emulator: Emulator) -> Iterator[Client]:
    """A :class:`fluximage.Client` on the emulator with its Agency key (closed afterwards)."""
    with fluximage_emulator.client() as client:
        yield client
