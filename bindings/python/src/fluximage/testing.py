"""Test your own code against a local Fluximage emulator: no credits spent, no HTTP mocked.

    from fluximage.testing import Emulator

    with Emulator() as emu:
        with emu.client() as client:          # an Agency-plan client on the emulator
            batch = client.compress("cat.png")
        assert emu.stats().charged == 1

``Emulator`` starts the ``fluximage-emulator`` program (a real HTTP server on loopback, with
real image encoding) and stops it on exit. The binary is looked for in this order:

1. ``FLUXIMAGE_EMULATOR``: the path of the binary (``skip`` makes the pytest fixtures skip);
2. next to the loaded libfluximage: the same folder (a wheel built by ``make python-wheel``
   bundles both in the package) and ``../bin`` beside its ``lib`` folder (``make install``);
3. ``fluximage-emulator`` on ``PATH`` (``cargo install --path emulator``).

With pytest, the fixtures ``fluximage_emulator`` and ``fluximage_client`` are registered
automatically (see :mod:`fluximage.pytest_plugin`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from . import _lib
from ._client import Client

__all__ = ["Emulator", "EmulatorError", "Stats", "find_emulator", "EMULATOR_ENV"]

#: The environment variable naming the emulator binary (or ``skip``).
EMULATOR_ENV = "FLUXIMAGE_EMULATOR"

_BINARY = "fluximage-emulator"

#: The faults the emulator knows (``POST /__control/fault``); see its README. Not checked here:
#: the emulator answers an unknown mode with an error that names it.
FAULT_MODES = (
    "429",
    "502",
    "503",
    "504",
    "500-html",
    "reset",
    "reset-early",
    "stall",
    "trickle",
    "truncated-json",
    "huge-json",
    "wrong-content-type",
    "redirect-foreign",
    "redirect-http",
    "random",
)


class EmulatorError(RuntimeError):
    """The emulator could not be found, started or reached; the message says why and what to do."""


def find_emulator() -> str:
    """Returns the path of the ``fluximage-emulator`` binary to run.

    Order: ``FLUXIMAGE_EMULATOR``; the folder of the loaded libfluximage (and ``../bin``
    beside it); ``PATH``.

    Raises:
        EmulatorError: no binary found (the message lists where it looked and how to install
            one), or ``FLUXIMAGE_EMULATOR`` names a file that is not there.
    """
    env = os.environ.get(EMULATOR_ENV)
    if env and env != "skip":
        if not os.path.isfile(env) or not os.access(env, os.X_OK):
            raise EmulatorError(f"{EMULATOR_ENV}={env}: no executable file there")
        return env
    tried: List[str] = [f"{EMULATOR_ENV}: {'skip' if env else 'not set'}"]
    lib_dir = Path(os.path.abspath(_lib.path)).parent if os.sep in _lib.path else None
    package_dir = Path(__file__).resolve().parent
    near: List[Path] = [package_dir / _BINARY]
    if lib_dir is not None and lib_dir != package_dir:  # not the copy bundled in the package
        near += [lib_dir / _BINARY, lib_dir.parent / "bin" / _BINARY]
    for candidate in dict.fromkeys(near):  # ordered, without repeats
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
        tried.append(f"{candidate} (not there)")
    on_path = shutil.which(_BINARY)
    if on_path:
        return on_path
    tried.append(f"{_BINARY} on PATH (not found)")
    raise EmulatorError(
        "cannot find the fluximage-emulator binary. Looked in:\n  - "
        + "\n  - ".join(tried)
        + f"\nInstall it with `cargo install --path emulator` (from a libfluximage checkout), "
        f"`make install`, or a wheel built by `make python-wheel`; or set {EMULATOR_ENV} to "
        "its path."
    )


@dataclass(frozen=True)
class Stats:
    """What the emulator counted since it started or was last reset.

    Attributes:
        charged: compression credits charged, over every key.
        ai_charged: AI credits charged, over every key.
        requests: requests by kind: ``compress``, ``usage``, ``download``, ``foreign``.
        connections: TCP connections accepted by origin: ``api``, ``download``, ``foreign``.
        token_leaks: ``Authorization`` headers that reached the download or foreign origin
            (a correct client sends none: the signed URL is the only credential there).
        abandoned: stalled answers whose client had gone (never charged); 0 when the emulator
            is too old to count them.
        faults_applied: faults served so far.
        raw: the whole ``GET /__control/stats`` answer.
    """

    charged: int
    ai_charged: int
    requests: Dict[str, int]
    connections: Dict[str, int]
    token_leaks: int
    abandoned: int
    faults_applied: int
    raw: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, raw: Dict[str, Any]) -> "Stats":
        credits = raw.get("credits") or {}
        seen = raw.get("authorization_seen") or {}
        return cls(
            charged=sum(int(c.get("compress", 0)) for c in credits.values()),
            ai_charged=sum(int(c.get("ai", 0)) for c in credits.values()),
            requests={k: int(v) for k, v in (raw.get("requests") or {}).items()},
            connections={k: int(v) for k, v in (raw.get("connections") or {}).items()},
            token_leaks=sum(int(v) for v in seen.values()),
            abandoned=int(raw.get("abandoned") or 0),
            faults_applied=int(raw.get("faults_applied") or 0),
            raw=raw,
        )


def _parent_death_signal() -> Any:
    """A ``preexec_fn`` asking Linux to SIGTERM the emulator when this process dies, so that
    even ``kill -9`` of the test run leaves no emulator behind. ``None`` elsewhere."""
    on_main_thread = threading.current_thread() is threading.main_thread()
    if not sys.platform.startswith("linux") or not on_main_thread:
        # The signal follows the thread that started the child: from another thread it would
        # stop the emulator when that thread ends.
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)

    return arm


def _stop_process(proc: "subprocess.Popen[bytes]") -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


class Emulator:
    """A local Fluximage-compatible server in a child process, for tests.

    Args:
        tls: serve HTTPS with a CA made at start-up (:attr:`ca_file`); clients from
            :meth:`client` trust it.
        keys: fixed keys by plan, e.g. ``{"agency": "flx_live_" + 40 hex}``; other plans
            keep the built-in keys. Needs an emulator with ``--key``.
        args: more command-line flags for the emulator (``["--rate", "5"]``, ``["--encode",
            "none"]``, ...: see ``fluximage-emulator --help``).
        binary: the binary to run; default :func:`find_emulator`.
        startup_timeout: seconds to wait for the server to listen.

    Use it as a context manager (or call :meth:`start` and :meth:`stop`). The process is
    stopped on exit from the ``with`` block, when the object is garbage-collected, at
    interpreter exit, and (on Linux, when started from the main thread) when this process
    dies, even by ``SIGKILL``. The control endpoints are always enabled.
    """

    base_url: str
    """The API origin, e.g. ``http://127.0.0.1:41234``: pass it as ``Client(base_url=...)``."""
    download_url: str
    """The origin of the signed download URLs."""
    foreign_url: str
    """An origin that counts the ``Authorization`` headers it gets (target of redirect faults)."""
    ca_file: Optional[str]
    """With ``tls=True``, the PEM file of the emulator's CA; else ``None``."""
    keys: Dict[str, str]
    """The API key of each plan: ``free``, ``starter``, ``pro``, ``agency``."""

    def __init__(
        self,
        *,
        tls: bool = False,
        keys: Optional[Mapping[str, str]] = None,
        args: Sequence[str] = (),
        binary: Optional[str] = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self._tls = tls
        self._fixed = dict(keys or {})
        self._args = list(args)
        self._binary = binary
        self._startup_timeout = startup_timeout
        self._proc: Optional["subprocess.Popen[bytes]"] = None
        self._tmp: Optional[tempfile.TemporaryDirectory[str]] = None
        self._finalizer: Optional["weakref.finalize[..., Emulator]"] = None
        self._ssl: Optional[ssl.SSLContext] = None
        self.base_url = self.download_url = self.foreign_url = ""
        self.ca_file = None
        self.keys = {}

    # ----- lifetime ----------------------------------------------------------------------------

    @property
    def pid(self) -> Optional[int]:
        """The emulator's process id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        """Whether the emulator process is alive."""
        return self.pid is not None

    def start(self) -> "Emulator":
        """Starts the emulator and waits until it listens; returns ``self``.

        Raises:
            EmulatorError: no binary, or it did not start (its own message is included).
        """
        if self._proc is not None:
            raise EmulatorError("this emulator was started already")
        binary = self._binary or find_emulator()
        self.keys = self._builtin_keys(binary)
        self.keys.update(self._fixed)
        self._tmp = tempfile.TemporaryDirectory(prefix="fluximage-emulator-")
        tmp = Path(self._tmp.name)
        ready = tmp / "ready.json"
        argv = [binary, "--control", "--ready-file", str(ready), *self._args]
        if self._tls:
            argv += ["--tls", "--tls-dir", str(tmp)]
        for plan, key in self._fixed.items():
            argv += ["--key", f"{plan}={key}"]
        stderr_path = tmp / "stderr.txt"
        with open(stderr_path, "wb") as stderr:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                # Its own session: a Ctrl-C meant for the test run reaches us, and we stop it.
                start_new_session=True,
                preexec_fn=_parent_death_signal(),
            )
        # From here on the process is stopped whatever happens to this object.
        self._finalizer = weakref.finalize(self, _cleanup, self._proc, self._tmp)
        try:
            info = self._wait_ready(ready)
        except BaseException:
            self.stop()
            raise
        self.base_url = str(info["api"])
        self.download_url = str(info.get("downloads") or "")
        self.foreign_url = str(info.get("foreign") or "")
        self.ca_file = info.get("ca_file") or None
        if self.ca_file:
            self._ssl = ssl.create_default_context(cafile=self.ca_file)
        return self

    def _builtin_keys(self, binary: str) -> Dict[str, str]:
        try:
            out = subprocess.run(
                [binary, "--print-keys"],
                capture_output=True,
                timeout=10,
                stdin=subprocess.DEVNULL,
                check=True,
            )
        except (OSError, subprocess.SubprocessError) as e:
            raise EmulatorError(f"{binary} --print-keys failed: {e}") from None
        keys: Dict[str, str] = {}
        for line in out.stdout.decode("utf-8", "replace").splitlines():
            parts = line.split()
            if len(parts) == 2:
                keys[parts[0]] = parts[1]
        return keys

    def _failed(self, why: str) -> EmulatorError:
        err = ""
        if self._tmp is not None:
            try:
                err = (Path(self._tmp.name) / "stderr.txt").read_text(errors="replace").strip()
            except OSError:
                pass
        said = f"; it said: {err}" if err else ""
        return EmulatorError(f"the emulator did not start: {why}{said}")

    def _wait_ready(self, ready: Path) -> Dict[str, Any]:
        assert self._proc is not None
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if ready.exists():  # written atomically (rename), so it is whole once it exists
                info: Dict[str, Any] = json.loads(ready.read_text())
                return info
            if self._proc.poll() is not None:
                raise self._failed(f"it exited with code {self._proc.returncode}")
            time.sleep(0.01)
        raise self._failed(f"not listening after {self._startup_timeout:g} s")

    def stop(self) -> None:
        """Stops the emulator (SIGTERM, then SIGKILL after 10 s) and removes its files.
        Calling it twice is harmless."""
        if self._finalizer is not None:
            self._finalizer()  # runs _cleanup once

    def __enter__(self) -> "Emulator":
        return self.start() if self._proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"on {self.base_url}" if self.running else "stopped"
        return f"<fluximage.testing.Emulator {state}>"

    # ----- using it ------------------------------------------------------------------------------

    def key(self, plan: str = "agency") -> str:
        """The API key of ``plan`` (``free``, ``starter``, ``pro`` or ``agency``)."""
        try:
            return self.keys[plan]
        except KeyError:
            raise KeyError(f"no key for plan {plan!r}; plans: {', '.join(self.keys)}") from None

    def client(self, plan: str = "agency", **kwargs: Any) -> Client:
        """A :class:`fluximage.Client` on this emulator with the key of ``plan``, trusting its
        CA with TLS. ``kwargs`` go to ``Client`` (e.g. ``retries=0``, ``timeout=5``)."""
        kwargs.setdefault("base_url", self._url())
        if self.ca_file:
            kwargs.setdefault("ca_file", self.ca_file)
        return Client(self.key(plan), **kwargs)

    def fault(
        self,
        mode: str,
        count: int = 1,
        *,
        path: str = "compress",
        delay_ms: Optional[int] = None,
        retry_after: Optional[int] = None,
        **extra: Any,
    ) -> None:
        """Makes the next ``count`` requests to ``path`` fail with ``mode``.

        Args:
            mode: ``"429"``, ``"502"``, ``"503"``, ``"504"``, ``"500-html"``, ``"reset"``
                (processed and charged, then the connection drops), ``"reset-early"``,
                ``"stall"`` (answer held ``delay_ms``; charged only if the client is still
                connected), ``"trickle"``, ``"truncated-json"``, ``"huge-json"``,
                ``"wrong-content-type"``, ``"redirect-foreign"``, ``"redirect-http"``,
                ``"random"`` (with ``rate=`` and ``seed=``).
            path: ``"compress"``, ``"usage"``, ``"download"`` or ``"any"`` (compress or usage).
            delay_ms: for ``stall`` and ``trickle`` (default 5000).
            retry_after: the ``Retry-After`` seconds of 429/502/503/504.
        """
        body: Dict[str, Any] = {"mode": mode, "count": count, "path": path, **extra}
        if delay_ms is not None:
            body["delay_ms"] = delay_ms
        if retry_after is not None:
            body["retry_after"] = retry_after
        self._control("POST", "fault", body)

    def stats(self) -> Stats:
        """What the emulator counted since start or the last :meth:`reset`."""
        return Stats.from_json(self._control("GET", "stats"))

    def reset(self) -> None:
        """Clears queued faults, statistics and rate limits, and restores every account's
        credits (a new billing period)."""
        self._control("POST", "reset", {})

    def delete_results(self) -> None:
        """Deletes every stored result: their download URLs then answer 404."""
        self._control("POST", "delete-results", {})

    def _url(self) -> str:
        if not self.running:
            raise EmulatorError("the emulator is not running (use `with Emulator() as emu:`)")
        return self.base_url

    def _control(self, method: str, name: str, body: Optional[Dict[str, Any]] = None) -> Any:
        req = urllib.request.Request(
            f"{self._url()}/__control/{name}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method=method,
        )
        try:
            with urllib.request.urlopen(req, timeout=10, context=self._ssl) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")[:300]
            raise EmulatorError(f"emulator control {name}: HTTP {e.code} {detail}") from None
        except urllib.error.URLError as e:
            raise EmulatorError(f"emulator control {name}: {e.reason}") from None


def _cleanup(
    proc: "subprocess.Popen[bytes]", tmp: "Optional[tempfile.TemporaryDirectory[str]]"
) -> None:
    # A module-level function: the finalizer must not hold the Emulator alive.
    try:
        _stop_process(proc)
    finally:
        if tmp is not None:
            tmp.cleanup()
