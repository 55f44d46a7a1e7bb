"""Why a worker's job ended without a result, classified in the worker thread from the exception.

The GUI decides from the kind (offer the CPU after a GPU failure, say "cancelled", show a dialog)
and shows ``message``; nothing downstream reads exception texts again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from karyostudio.core.progress import Cancelled
from karyostudio.io.errors import FormatError
from karyostudio.models.registry import DeviceUnavailableError


class ErrorKind(enum.Enum):
    CANCELLED = "cancelled"
    OUT_OF_MEMORY = "out_of_memory"  # the GPU ran out of memory
    DEVICE_UNAVAILABLE = "device_unavailable"  # no CUDA, a device name torch does not know
    BAD_INPUT = "bad_input"  # an unreadable file, an image the model cannot take
    FAILED = "failed"  # anything else: a bug, broken weights


@dataclass(frozen=True)
class RunError:
    kind: ErrorKind
    message: str  # what the user reads; its first line stands alone in the status bar

    @property
    def gpu_failure(self) -> bool:
        """True when the GPU, not the model or its input, made the job fail (the CPU may succeed)."""
        return self.kind in (ErrorKind.OUT_OF_MEMORY, ErrorKind.DEVICE_UNAVAILABLE)

    @property
    def summary(self) -> str:
        return self.message.splitlines()[0] if self.message else self.kind.value


def classify(exc: BaseException, message: str | None = None) -> RunError:
    """The RunError for an exception raised by a job; message defaults to "TypeName: text"."""
    text = message if message is not None else f"{type(exc).__name__}: {exc}"
    return RunError(_kind(exc), text)


def _kind(exc: BaseException) -> ErrorKind:
    if isinstance(exc, Cancelled):
        return ErrorKind.CANCELLED
    names = {cls.__name__ for cls in type(exc).__mro__}
    lowered = str(exc).lower()
    # torch.cuda.OutOfMemoryError (named so since torch 1.13); older torch raised a plain
    # RuntimeError("CUDA out of memory. ..."). torch is never imported here just to compare types.
    if "OutOfMemoryError" in names or "out of memory" in lowered:
        return ErrorKind.OUT_OF_MEMORY
    if isinstance(exc, DeviceUnavailableError) or ("cuda" in lowered and "not available" in lowered):
        return ErrorKind.DEVICE_UNAVAILABLE
    if isinstance(exc, (FormatError, ValueError)):
        return ErrorKind.BAD_INPUT
    return ErrorKind.FAILED
