"""What a loaded dump looks like to its users: threads of frames, the exception, the sources.

These classes are the contract between the loader and everything that presents a dump
(the debuggers, the command line, the IDE bridge). They hold rebuilt objects; they never
touch the file again.
"""

from __future__ import annotations

from pyheapdump._valueclass import IdentityValueClass

# Plain classes, not dataclasses, and no typing at run time: every load, and so the load benchmark and every debugger
# session, would pay for dataclasses (inspect, ast, dis, tokenize) and typing.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

# The function behind HeapDump.debug(): pyheapdump.debug.debugger registers its debug_dump here when it is imported.
# The package imports the debugger only on first use (a load need not hold pdb), so debug() imports it by name the
# first time, as a plug-in is found: this module, which every stage uses, names no stage in an import statement, and
# the import graph has no circle through the debugger.
_debug_dump: Callable[..., None] | None = None
_DEBUGGER_MODULE = "pyheapdump.debug.debugger"


def register_debug_dump(debug_dump: Callable[..., None]) -> None:
    global _debug_dump
    _debug_dump = debug_dump


class DumpedCode(IdentityValueClass):
    """The parts of a code object that a debugger reads."""

    __slots__ = ("co_filename", "co_name", "co_qualname", "co_firstlineno", "co_argcount", "co_posonlyargcount",
                 "co_kwonlyargcount", "co_varnames", "co_flags")

    def __init__(self, co_filename: str, co_name: str, co_qualname: str, co_firstlineno: int, co_argcount: int = 0,
                 co_posonlyargcount: int = 0, co_kwonlyargcount: int = 0, co_varnames: tuple[str, ...] = (),
                 co_flags: int = 0) -> None:
        self.co_filename = co_filename
        self.co_name = co_name
        self.co_qualname = co_qualname
        self.co_firstlineno = co_firstlineno
        self.co_argcount = co_argcount
        self.co_posonlyargcount = co_posonlyargcount
        self.co_kwonlyargcount = co_kwonlyargcount
        self.co_varnames = co_varnames
        self.co_flags = co_flags

    def __repr__(self) -> str:
        return f"<dumped code {self.co_qualname} at {self.co_filename}:{self.co_firstlineno}>"


class DumpedFrame(IdentityValueClass):
    """One frame of a dumped stack, with its locals and globals rebuilt as plain dicts.

    `f_back` links to the caller's frame (None for the outermost), like a real frame.
    """

    __slots__ = ("f_code", "f_lineno", "f_lasti", "f_locals", "f_globals", "f_back")

    def __init__(self, f_code: DumpedCode, f_lineno: int, f_lasti: int, f_locals: dict[str, Any],
                 f_globals: dict[str, Any], f_back: DumpedFrame | None = None) -> None:
        self.f_code = f_code
        self.f_lineno = f_lineno
        self.f_lasti = f_lasti
        self.f_locals = f_locals
        self.f_globals = f_globals
        self.f_back = f_back

    def __repr__(self) -> str:
        return f"<dumped frame {self.f_code.co_qualname} at {self.f_code.co_filename}:{self.f_lineno}>"


class DumpedTraceback(IdentityValueClass):
    """One entry of a dumped traceback, linked like `types.TracebackType` (innermost entry last).

    An exception's `__traceback__` can only hold a real traceback, so the loader keeps these in
    `HeapDump.tracebacks`; `pyheapdump.reenact.frames` turns them into real tracebacks.
    """

    __slots__ = ("tb_frame", "tb_lineno", "tb_lasti", "tb_next")

    def __init__(self, tb_frame: DumpedFrame, tb_lineno: int, tb_lasti: int = -1,
                 tb_next: DumpedTraceback | None = None) -> None:
        self.tb_frame = tb_frame
        self.tb_lineno = tb_lineno
        self.tb_lasti = tb_lasti
        self.tb_next = tb_next

    def __repr__(self) -> str:
        code = self.tb_frame.f_code
        return f"<dumped traceback {code.co_qualname} at {code.co_filename}:{self.tb_lineno}>"


class DumpedThread(IdentityValueClass):
    """A dumped stack: an OS thread, or an extra stack (asyncio task, greenlet).

    `frames` runs outermost first; `frames[-1]` is where the stack stopped.
    `kind` is "thread", "asyncio-task" or "greenlet"; `state` says more for extra stacks
    (a task's "pending", a greenlet's "suspended").
    """

    __slots__ = ("name", "ident", "daemon", "current", "frames", "kind", "state")

    def __init__(self, name: str, ident: int, daemon: bool, current: bool, frames: list[DumpedFrame],
                 kind: str = "thread", state: str = "") -> None:
        self.name = name
        self.ident = ident
        self.daemon = daemon
        self.current = current
        self.frames = frames
        self.kind = kind
        self.state = state

    @property
    def top(self) -> DumpedFrame | None:
        return self.frames[-1] if self.frames else None


class HeapDump(IdentityValueClass):
    """A loaded dump.

    - `metadata`: the header (format and Python versions, host, pid, argv, time, limits hit, ...).
    - `threads`: every dumped stack, the OS threads first.
    - `exception`: the rebuilt exception with its chain, or None.
    - `traceback`: the frames of that exception's traceback, outermost first.
    - `sources`: filename -> text of every source file the dumped code refers to.
    - `warnings`: what could not be loaded (damaged chunks, objects that became surrogates on error).
    - `tracebacks`: id() of a rebuilt exception -> its dumped traceback, for the exception and every
      exception of its chain (cause, context, group members). When the main exception is missing here,
      `traceback` stands in for it.
    """

    __slots__ = ("path", "metadata", "threads", "exception", "traceback", "sources", "warnings", "frame", "tracebacks")

    def __init__(self, path: str, metadata: Mapping[str, Any], threads: list[DumpedThread],
                 exception: BaseException | None, traceback: list[DumpedFrame], sources: dict[str, str],
                 warnings: list[str] | None = None, frame: DumpedFrame | None = None,
                 tracebacks: dict[int, DumpedTraceback] | None = None) -> None:
        self.path = path
        self.metadata = metadata
        self.threads = threads
        self.exception = exception
        self.traceback = traceback
        self.sources = sources
        self.warnings: list[str] = [] if warnings is None else warnings
        self.frame = frame  # the explicit frame given to save_dump, if any
        self.tracebacks: dict[int, DumpedTraceback] = {} if tracebacks is None else tracebacks

    @property
    def current_thread(self) -> DumpedThread | None:
        for thread in self.threads:
            if thread.current:
                return thread
        return self.threads[0] if self.threads else None

    def debug(
        self,
        debugger: str = "pdb",
        thread: int | None = None,
        stdin: Any = None,
        stdout: Any = None,
    ) -> None:
        """Open `debugger` ("pdb", "ipdb", "pudb", "pdbpp") post-mortem on this dump; see `pyheapdump.debug_dump`."""
        if _debug_dump is None:
            __import__(_DEBUGGER_MODULE)  # registers its debug_dump (see _debug_dump)
        if _debug_dump is None:
            raise RuntimeError(f"{_DEBUGGER_MODULE} did not register its debugger: reinstall pyheapdump")
        _debug_dump(self, debugger=debugger, thread=thread, stdin=stdin, stdout=stdout)
