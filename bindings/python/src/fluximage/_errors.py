"""Exceptions: one class per flx_status, mapped in one table (``_BY_STATUS``)."""

from __future__ import annotations

import builtins
from typing import Any, Dict, Optional, Tuple, Type

from . import _lib


class Error(Exception):
    """Base class of every error raised by fluximage.

    ``str(error)`` is the library's message (it never contains the API key).

    Attributes:
        status: the library's ``flx_status`` number.
        http_status: the HTTP status the server answered with, or ``None`` when no server
            answered (a local check, a connection failure, a cancel).
        batch: for a compress call in which every image failed, the :class:`Batch` that says
            why each one failed; otherwise ``None``.
    """

    status: int
    http_status: Optional[int]
    batch: Optional[Any]

    def __init__(
        self, message: str, *, status: int = _lib.FLX_INTERNAL, http_status: Optional[int] = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.http_status = http_status or None
        self.batch = None

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        extra = f", http_status={self.http_status}" if self.http_status else ""
        return f"{type(self).__name__}({self.message!r}{extra})"

    def __reduce__(self) -> Tuple[Any, ...]:
        # Keyword-only arguments would defeat the default pickling of exceptions.
        # The batch holds library memory: it does not travel.
        state = {k: v for k, v in self.__dict__.items() if k != "batch"}
        return (_rebuild, (type(self), self.message), state)


def _rebuild(cls: Type[Error], message: str) -> Error:
    err = cls.__new__(cls, message)
    Exception.__init__(err, message)
    err.message = message
    err.batch = None
    return err


class InvalidArgumentError(Error, ValueError):
    """An argument was invalid (out of range, malformed key, ...); nothing was sent."""


class AuthenticationError(Error):
    """The API key is missing, malformed, unknown or was rolled (HTTP 401)."""


class PermissionDeniedError(Error):
    """The plan does not include the feature: watermark, AI, or API access (HTTP 403)."""


class QuotaExceededError(Error):
    """Compression or AI credits are used up for this billing period (HTTP 402)."""


class PayloadTooLargeError(Error):
    """A file is over 20 MB or the request is too large (checked locally, or HTTP 413)."""


class RateLimitError(Error):
    """Too many requests (HTTP 429).

    Attributes:
        retry_after: seconds the server asked to wait (``Retry-After``), or ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = _lib.FLX_RATE_LIMITED,
        http_status: Optional[int] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message, status=status, http_status=http_status)
        self.retry_after = retry_after


class BadRequestError(Error):
    """The server rejected a field of the request (HTTP 400)."""


class ServerError(Error):
    """The server failed (HTTP 5xx), or could not process one image (e.g. not decodable)."""


class ConnectionError(Error, builtins.ConnectionError):
    """The connection could not be made or broke."""


class TLSError(ConnectionError):
    """The TLS handshake or certificate verification failed."""


class TimeoutError(Error, builtins.TimeoutError):
    """A connect, read or total time limit was reached."""


class ProtocolError(Error):
    """The server's answer did not follow the protocol (not JSON, no URL, redirect, ...)."""


class ResultExpiredError(Error):
    """A result's download URL expired or its file was deleted: compress again."""


class FileError(Error, OSError):
    """A local file could not be read or written."""


class CancelledError(Error):
    """The call was cancelled (the progress callback returned ``False``)."""


class InternalError(Error):
    """A bug in libfluximage; please report it."""


class ExistsError(Error, builtins.FileExistsError):
    """A file is already at the output path and the ``exists`` policy (``"error"`` by default)
    forbids replacing it, or another result of the same batch wrote it. Nothing was written."""


#: flx_status -> exception class; the only place where this mapping lives.
_BY_STATUS: Dict[int, Type[Error]] = {
    _lib.FLX_INVALID_ARGUMENT: InvalidArgumentError,
    _lib.FLX_UNAUTHORIZED: AuthenticationError,
    _lib.FLX_FORBIDDEN: PermissionDeniedError,
    _lib.FLX_QUOTA_EXCEEDED: QuotaExceededError,
    _lib.FLX_TOO_LARGE: PayloadTooLargeError,
    _lib.FLX_RATE_LIMITED: RateLimitError,
    _lib.FLX_BAD_REQUEST: BadRequestError,
    _lib.FLX_SERVER: ServerError,
    _lib.FLX_NETWORK: ConnectionError,
    _lib.FLX_TIMEOUT: TimeoutError,
    _lib.FLX_TLS: TLSError,
    _lib.FLX_PROTOCOL: ProtocolError,
    _lib.FLX_EXPIRED: ResultExpiredError,
    _lib.FLX_IO: FileError,
    _lib.FLX_CANCELLED: CancelledError,
    _lib.FLX_INTERNAL: InternalError,
    _lib.FLX_EXISTS: ExistsError,
}


def status_text(status: int) -> str:
    """The library's English name of a status ("rate limited", ...)."""
    raw: Optional[bytes] = _lib.lib.flx_status_str(status)
    return (raw or b"unknown status").decode("utf-8", "replace")


def make_error(
    status: int,
    message: str,
    http_status: Optional[int] = None,
    retry_after_ms: Optional[int] = None,
) -> Error:
    """The exception for ``status`` (an flx_status), with the library's message."""
    cls = _BY_STATUS.get(status, Error)
    message = message or status_text(status)
    if cls is RateLimitError:
        retry = (
            retry_after_ms / 1000.0 if retry_after_ms is not None and retry_after_ms >= 0 else None
        )
        return RateLimitError(message, status=status, http_status=http_status, retry_after=retry)
    return cls(message, status=status, http_status=http_status)


class LastError:
    """flx_last_error() and friends, read right after a failing call on the same thread."""

    __slots__ = ("status", "message", "http_status", "retry_after_ms")

    def __init__(self, status: int) -> None:
        raw: Optional[bytes] = _lib.lib.flx_last_error()
        self.status = status
        self.message = (raw or b"").decode("utf-8", "replace")
        self.http_status = int(_lib.lib.flx_last_http_status())
        self.retry_after_ms = int(_lib.lib.flx_last_retry_after_ms())

    def error(self) -> Error:
        return make_error(self.status, self.message, self.http_status, self.retry_after_ms)


def check(status: int) -> None:
    """Raises the error of a failed quick call (made on this thread just before)."""
    if status != _lib.FLX_OK:
        raise LastError(status).error()
