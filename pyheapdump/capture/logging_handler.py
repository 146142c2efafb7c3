"""`HeapDumpHandler`: a logging handler that writes a heap dump for every record carrying an exception.

Handled-and-logged errors (`logger.exception(...)`, `logger.error(..., exc_info=True)`) are the failures a service
survives, so the uncaught-exception hooks never see them. Attach the handler next to the usual ones::

    logging.getLogger().addHandler(pyheapdump.HeapDumpHandler(directory="/var/tmp/dumps"))

- Only records at `level` or above (default ERROR) that carry `exc_info` dump; others are ignored.
- The dump holds the exception (its traceback's frames are where the debugger opens) and every thread; the frame
  that made the logging call is recorded as the dump's frame when the handler runs on that thread.
- The handler has its own caps, per handler: at most `max_dumps` dumps (default 10) and `max_per_window` per
  `per_seconds` (default 3 per 300 s); `keep` / `keep_bytes` prune the directory. See pyheapdump.capture.hooks.
- One exception object dumps once, whichever hook sees it first (a logged exception that is re-raised and ends the
  program does not dump again).
- `emit` never raises: a failed dump goes through `Handler.handleError`, like any handler's failure (a message on
  stderr when `logging.raiseExceptions` is true, silence otherwise).
- Records of the `pyheapdump` logger itself are ignored, so the line announcing a dump never asks for another one.
"""

from __future__ import annotations

import logging
import os
import sys
import types

from pyheapdump.capture.hooks import DEFAULT_MAX_DUMPS, DEFAULT_MAX_PER_WINDOW, DEFAULT_PER_SECONDS, CaptureOptions

TYPE_CHECKING = False  # typing for the type checker only, as in the modules the hooks import
if TYPE_CHECKING:
    from typing import Any

__all__ = ["HeapDumpHandler"]

_LOGGING_DIR = os.path.normcase(os.path.dirname(logging.__file__))


class HeapDumpHandler(logging.Handler):
    """Writes a heap dump for each log record that carries an exception (see the module docstring)."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        level: int | str = logging.ERROR,
        *,
        max_dumps: int | None = DEFAULT_MAX_DUMPS,
        max_per_window: int | None = DEFAULT_MAX_PER_WINDOW,
        per_seconds: float = DEFAULT_PER_SECONDS,
        keep: int | None = None,
        keep_bytes: int | None = None,
        threads: bool = True,
        **limits: Any,
    ) -> None:
        super().__init__(level)
        options = CaptureOptions(max_dumps, max_per_window, per_seconds, keep, keep_bytes, threads, limits)
        self.writer = options.writer(directory, options.new_budget())  # caps of its own, per handler
        self.last_dump: str | None = None  # the path of the last dump it wrote, as save_dump returns it

    def emit(self, record: logging.LogRecord) -> None:
        exc = _record_exception(record)
        if exc is None or record.name == "pyheapdump" or record.name.startswith("pyheapdump."):
            return
        try:
            written = self.writer.write(
                reason="logging",
                exc=exc,
                frame=_logging_call_frame(record),
                description=_describe(record),
            )
        except Exception:
            self.handleError(record)
            return
        if written is not None:
            self.last_dump = written

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return f"<{type(self).__name__} {self.writer.directory or '(default directory)'} ({level})>"


def _record_exception(record: logging.LogRecord) -> BaseException | None:
    exc_info = record.exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and isinstance(exc_info[1], BaseException):
        return exc_info[1]
    return None


def _describe(record: logging.LogRecord) -> str:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: the record's own handlers will complain about it
        message = str(record.msg)
    return f"{record.levelname} {record.name}: {message}"


def _logging_call_frame(record: logging.LogRecord) -> types.FrameType | None:
    """The frame that called the logger, when this thread is the one that logged (it is not behind a QueueHandler)."""
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if (
            code.co_filename == record.pathname
            and frame.f_lineno == record.lineno
            and code.co_name == record.funcName
            and not os.path.normcase(code.co_filename).startswith(_LOGGING_DIR)
        ):
            return frame
        frame = frame.f_back
    return None
