"""fluximage: a Python client for the Fluximage image-compression API, on libfluximage.

    import fluximage

    with fluximage.Client() as client:  # the key comes from FLUXIMAGE_API_KEY
        for result in client.compress(["photo.png", "logo.png"], format="webp", quality=80):
            print(result.save("out/") if result.ok else result.error)

Everything goes through the C library: this package has no HTTP, parsing or retry logic.
"""

from . import _lib
from ._client import (
    Batch,
    Client,
    CompressOptions,
    Exists,
    Format,
    Input,
    NamedBytes,
    Position,
    ProgressCallback,
    Result,
    StrPath,
    TickCallback,
    Timeout,
    Usage,
    Watermark,
)
from ._errors import (
    AuthenticationError,
    BadRequestError,
    CancelledError,
    ConnectionError,
    Error,
    ExistsError,
    FileError,
    InternalError,
    InvalidArgumentError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ProtocolError,
    QuotaExceededError,
    RateLimitError,
    ResultExpiredError,
    ServerError,
    TimeoutError,
    TLSError,
)
from ._sync import SyncEvent, SyncPlan, SyncReport
from ._version import __version__

#: The version of the loaded libfluximage ("MAJOR.MINOR.PATCH").
library_version: str = _lib.version

#: Where the loaded libfluximage was found.
library_path: str = _lib.path

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "Batch",
    "CancelledError",
    "Client",
    "CompressOptions",
    "ConnectionError",
    "Error",
    "ExistsError",
    "Exists",
    "FileError",
    "Format",
    "Input",
    "InternalError",
    "InvalidArgumentError",
    "NamedBytes",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Position",
    "ProgressCallback",
    "ProtocolError",
    "QuotaExceededError",
    "RateLimitError",
    "Result",
    "ResultExpiredError",
    "ServerError",
    "StrPath",
    "SyncEvent",
    "SyncPlan",
    "SyncReport",
    "TLSError",
    "TickCallback",
    "TimeoutError",
    "Timeout",
    "Usage",
    "Watermark",
    "__version__",
    "library_path",
    "library_version",
]
