"""pyheapdump: heap dumps for Python.

`save_dump()` writes every thread's stack and the objects reachable from it to one file; `load_dump()` reads it
back (safely by default: nothing the dump names is imported or called) for a debugger, on any machine.
"""

from __future__ import annotations

from pyheapdump.errors import (
    DumpError,
    DumpFormatError,
    DumpInProgressError,
    DumpMemoryError,
    DumpNotFoundError,
    DumpWriteError,
    RebuildError,
)
from pyheapdump.model import DumpedCode, DumpedFrame, DumpedThread, DumpedTraceback, HeapDump
from pyheapdump.typesupport import TypeSupport, register_type, unregister_type

__version__ = "1.0.0.dev0"

from pyheapdump._dump import save_dump  # noqa: E402
from pyheapdump._load import load_dump, read_header  # noqa: E402
from pyheapdump.analysis import analyze  # noqa: E402
from pyheapdump.debugger import debug_dump  # noqa: E402
from pyheapdump.hooks import dump_on_error, install, uninstall  # noqa: E402
from pyheapdump.logging_handler import HeapDumpHandler  # noqa: E402
from pyheapdump.surrogates.base import Surrogate, SurrogateInfo, surrogate_info  # noqa: E402

__all__ = [
    "DumpError",
    "DumpFormatError",
    "DumpInProgressError",
    "DumpMemoryError",
    "DumpNotFoundError",
    "DumpWriteError",
    "DumpedCode",
    "DumpedFrame",
    "DumpedThread",
    "DumpedTraceback",
    "HeapDump",
    "HeapDumpHandler",
    "RebuildError",
    "Surrogate",
    "SurrogateInfo",
    "TypeSupport",
    "analyze",
    "debug_dump",
    "dump_on_error",
    "install",
    "uninstall",
    "load_dump",
    "read_header",
    "register_type",
    "save_dump",
    "surrogate_info",
    "unregister_type",
]
