"""A client used before os.fork() (multiprocessing's default start method on Linux) keeps
working in both processes, each on its own connections: the library notices the fork through
a handler it registers, not by asking for the process id before every request."""

from __future__ import annotations

import os
import sys

import pytest

import fluximage
from conftest import Emulator
from images import png


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_client_used_before_a_fork_works_in_the_child_on_its_own_connection(
    client: fluximage.Client, emu: Emulator
) -> None:
    assert client.compress(fluximage.NamedBytes("before.png", png(seed=1))).ok
    # Every stats() call comes on a connection of its own, counted too.
    before = emu.stats()["connections"]["api"]
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        code = 1
        try:
            batch = client.compress(fluximage.NamedBytes("child.png", png(seed=2)))
            code = 0 if batch.ok and batch[0].read() else 1
        finally:
            sys.stdout.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "the child's compress failed"
    # The parent goes on with its own pooled connection.
    assert client.compress(fluximage.NamedBytes("after.png", png(seed=3))).ok
    stats = emu.stats()
    assert stats["requests"]["compress"] == 3
    new = stats["connections"]["api"] - before - 1  # less this stats() call's own
    assert new == 1, f"{new} new client connections: one for the child, none for the parent"
