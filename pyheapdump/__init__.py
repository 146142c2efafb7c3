"""pyheapdump: heap dumps for Python.

`save_dump()` writes every thread's stack and the objects reachable from it to one file; `load_dump()` reads it
back (safely by default: nothing the dump names is imported or called) for a debugger, on any machine.

What dumps is imported with the package: it runs when the program is failing, perhaps out of memory, which is no
time to import anything. What loads, debugs and analyses a dump is imported on first use (PEP 562), so a service that
only installs the hooks does not hold the loader, the debuggers and the analysis. For the same reason the modules
imported with the package keep to a few small standard modules (os, sys, time, re, threading, weakref): no typing
(TYPE_CHECKING is a constant of their own), dataclasses, pathlib, json, platform, datetime, inspect or importlib.
"""

from __future__ import annotations

import sys

from pyheapdump._version import __version__ as __version__
from pyheapdump.capture.hooks import dump_on_error, install, uninstall
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
from pyheapdump.typesupport import TypeSupport, register_type, unregister_type

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any

    from pyheapdump.analysis import analyze
    from pyheapdump.capture.logging_handler import HeapDumpHandler
    from pyheapdump.debug.debugger import debug_dump
    from pyheapdump.load.loader import load_dump, read_header
    from pyheapdump.model import DumpedCode, DumpedFrame, DumpedThread, DumpedTraceback, HeapDump
    from pyheapdump.surrogates.base import Surrogate, SurrogateInfo, surrogate_info

# The names imported on first use, and the modules that define them.
_LAZY_MODULES: dict[str, str] = {
    "DumpedCode": "pyheapdump.model",
    "DumpedFrame": "pyheapdump.model",
    "DumpedThread": "pyheapdump.model",
    "DumpedTraceback": "pyheapdump.model",
    "HeapDump": "pyheapdump.model",
    "HeapDumpHandler": "pyheapdump.capture.logging_handler",  # with logging, which its users have imported
    "Surrogate": "pyheapdump.surrogates.base",
    "SurrogateInfo": "pyheapdump.surrogates.base",
    "analyze": "pyheapdump.analysis",
    "debug_dump": "pyheapdump.debug.debugger",
    "load_dump": "pyheapdump.load.loader",
    "read_header": "pyheapdump.load.loader",
    "surrogate_info": "pyheapdump.surrogates.base",
}

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


def __getattr__(name: str) -> Any:
    module = _LAZY_MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'pyheapdump' has no attribute {name!r}")
    __import__(module)
    value = getattr(sys.modules[module], name)
    globals()[name] = value  # the next lookup finds it without this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
