"""pyheapdump: heap dumps for Python.

`save_dump()` writes every thread's stack and the objects reachable from it to one file; `load_dump()` reads it
back (safely by default: nothing the dump names is imported or called) for a debugger, on any machine.
"""

from __future__ import annotations

from pyheapdump._version import __version__ as __version__
from pyheapdump.analysis import analyze
from pyheapdump.capture.hooks import dump_on_error, install, uninstall
from pyheapdump.capture.logging_handler import HeapDumpHandler
from pyheapdump.debug.debugger import debug_dump
from pyheapdump.dump.save import save_dump
from pyheapdump.errors import (
    DumpError,
    DumpFormatError,
    DumpInProgressError,
    DumpMemoryError,
    DumpNotFoundError,
    DumpWriteError,
    RebuildError,
)
from pyheapdump.load.loader import load_dump, read_header
from pyheapdump.model import DumpedCode, DumpedFrame, DumpedThread, DumpedTraceback, HeapDump
from pyheapdump.surrogates.base import Surrogate, SurrogateInfo, surrogate_info
from pyheapdump.typesupport import TypeSupport, register_type, unregister_type

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
