"""Open a dump in pdb, ipdb, pdbpp or pudb, post-mortem, with every dumped stack.

The dumped stacks are re-enacted as real frames (`pyheapdump.reenact.frames`) and the dumped sources served
through `linecache` (`pyheapdump.present.sources`), so the debuggers run unmodified on them. A mix-in adds the
commands a dump needs (`threads`, `thread N`) and refuses the ones that would run the program.

Other front ends (the IDE bridge) plug in with `register_debugger(name, function)`.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from collections.abc import Callable
from typing import IO, Any

from pyheapdump.errors import DumpError
from pyheapdump.load.loader import load_dump
from pyheapdump.model import HeapDump, register_debug_dump
from pyheapdump.present.sources import served_sources
from pyheapdump.present.values import PDB_REPR, bounded_repr
from pyheapdump.reenact.frames import ReenactedStack, Reenactment, iter_stack, reenact


class DebuggerError(DumpError):
    """A debugger front end cannot be used (unknown name, package not installed, nothing to debug)."""


Frontend = Callable[[Reenactment, "int | None", "IO[str] | None", "IO[str] | None"], None]
_FRONTENDS: dict[str, Frontend] = {}


def register_debugger(name: str, frontend: Frontend) -> None:
    """Make `debug_dump(..., debugger=name)` call `frontend(reenactment, thread, stdin, stdout)`."""
    _FRONTENDS[name] = frontend


def debuggers() -> list[str]:
    """The names `debug_dump` accepts."""
    return sorted(_FRONTENDS)


def debug_dump(
    path_or_dump: str | os.PathLike[str] | HeapDump,
    debugger: str = "pdb",
    thread: int | None = None,
    trusted: bool = False,
    stdin: IO[str] | None = None,
    stdout: IO[str] | None = None,
) -> None:
    """Open `debugger` post-mortem on a dump: at the frame that raised, or at the top of the thread that
    called the dump when there was no exception; `thread` (1-based, as `threads` numbers them) starts
    at the top of that stack instead. `trusted` is passed to `load_dump` when a path is given."""
    frontend = _FRONTENDS.get(debugger)
    if frontend is None:
        raise DebuggerError(f"unknown debugger {debugger!r}: choose one of {', '.join(debuggers())}")
    if isinstance(path_or_dump, HeapDump):
        dump = path_or_dump
    else:
        dump = load_dump(path_or_dump, trusted=trusted)
    reenactment = reenact(dump)
    if thread is not None and not 1 <= thread <= len(reenactment.stacks):
        raise DebuggerError(f"the dump has no stack {thread}: it holds stacks 1 to {len(reenactment.stacks)}")
    with served_sources(dump.sources):
        frontend(reenactment, thread, stdin, stdout)


# ---- what the session starts on, and how it introduces itself ----


def _start(reenactment: Reenactment, thread: int | None) -> tuple[types.FrameType | None, Any]:
    """(frame, traceback or exception) for the debugger's first stop."""
    if thread is not None:
        return reenactment.stacks[thread - 1].top, None
    exc, tb = reenactment.exception, reenactment.traceback
    if tb is not None:
        if sys.version_info >= (3, 13) and isinstance(exc, BaseException) and exc.__traceback__ is tb:
            return None, exc  # pdb 3.13+ then offers `exceptions` over the chain
        return None, tb
    if reenactment.frame is not None:
        return reenactment.frame, None
    stack = reenactment.current_stack
    if stack is None or stack.top is None:
        raise DebuggerError("the dump holds no stack to debug: `pyheapdump info DUMP` shows what it holds")
    return stack.top, None


def _where(frame: types.FrameType | None) -> str:
    if frame is None:
        return "(no frames)"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


def banner(dump: HeapDump) -> list[str]:
    """The lines a session opens with: what was dumped, and that nothing will run."""
    meta = dump.metadata
    argv = meta.get("argv")
    program = " ".join(str(a) for a in argv) if isinstance(argv, list | tuple) else str(argv or "?")
    lines = [
        f"pyheapdump: {dump.path}: {program} (pid {meta.get('pid', '?')}, Python {meta.get('python', '?')}, "
        f"{meta.get('time', '?')})"
    ]
    if meta.get("description"):
        lines.append(f"  {meta['description']}")
    if dump.exception is not None:
        lines.append(f"  {_exception_line(dump.exception)}")
    lines.append(
        f"  {len(dump.threads)} stacks: `threads` lists them, `thread N` switches; this is a dump, nothing runs."
    )
    if dump.warnings:
        lines.append(f"  {len(dump.warnings)} warnings while loading, first: {dump.warnings[0]}")
    return lines


def _exception_line(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # a rebuilt exception's __str__ may not cope with its rebuilt args
        text = "<unprintable>"
    name = type(exc).__qualname__
    return f"{name}: {text}" if text else name


# ---- the mix-in: threads, thread N, refusing to run ----


_RUNS_PROGRAM = (
    "*** {command}: this is a heap dump, not a running program; nothing can run. "
    "Look around with bt, up, down, p, threads; leave with q."
)


class DumpDebuggerMixin:
    """Pdb-family additions for a dump. Mix in before the debugger class (`class X(DumpDebuggerMixin, Pdb)`)."""

    _reenactment: Reenactment
    _stack_number: int | None = None

    def attach_dump(self, reenactment: Reenactment) -> None:
        self._reenactment = reenactment
        self._stack_of_frame: dict[int, int] = {}
        for number, stack in enumerate(reenactment.stacks, start=1):
            for frame in stack.frames:
                self._stack_of_frame.setdefault(id(frame), number)

    # The stack pdb walks: a traceback starts at the frame that caught the exception; the dump also has
    # that frame's callers, so show them above it as a live debugger would.
    def get_stack(self, f: types.FrameType | None, t: types.TracebackType | None) -> tuple[list[Any], int]:
        stack, index = super().get_stack(f, t)  # type: ignore[misc]
        return _with_callers(stack, index, f, t)

    def _current_stack_number(self) -> int | None:
        frame = getattr(self, "curframe", None)
        for candidate in iter_stack(frame):
            number = self._stack_of_frame.get(id(candidate))
            if number is not None:
                return number
        return None

    def do_threads(self, arg: str) -> None:
        """threads
        List every dumped stack (threads, asyncio tasks, greenlets): its number for `thread N`,
        name, ident, kind and top frame. `*` marks the stack shown now; `(dumped here)` the
        thread that wrote the dump."""
        current = self._current_stack_number()
        for number, stack in enumerate(self._reenactment.stacks, start=1):
            self.message(_thread_line(number, stack, number == current))  # type: ignore[attr-defined]

    def do_thread(self, arg: str) -> None:
        """thread [N]
        Switch to the top frame of dumped stack N (numbers from `threads`); `bt`, `up` and `down`
        then walk that stack. Without N, say which stack is shown."""
        stacks = self._reenactment.stacks
        if not arg.strip():
            current = self._current_stack_number()
            if current is None:
                self.message("The frame shown is on no dumped stack (an exception's traceback).")  # type: ignore[attr-defined]
            else:
                self.message(_thread_line(current, stacks[current - 1], True))  # type: ignore[attr-defined]
            return
        try:
            number = int(arg)
        except ValueError:
            self.error(f"thread wants a stack number from `threads`, not {arg!r}")  # type: ignore[attr-defined]
            return
        if not 1 <= number <= len(stacks):
            self.error(f"no stack {number}: `threads` lists stacks 1 to {len(stacks)}")  # type: ignore[attr-defined]
            return
        top = stacks[number - 1].top
        if top is None:
            self.error(f"stack {number} has no frames")  # type: ignore[attr-defined]
            return
        self.switch_to_frame(top)

    def switch_to_frame(self, frame: types.FrameType) -> None:
        """Show `frame`, with its callers as the stack, as if the debugger had stopped there."""
        self.setup(frame, None)  # type: ignore[attr-defined]
        self.print_stack_entry(self.stack[self.curindex])  # type: ignore[attr-defined]

    def do_args(self, arg: str) -> None:
        """a(rgs)
        Print the argument list of the current function, as dumped."""
        dumped = self._reenactment.dumped(self.curframe)  # type: ignore[attr-defined]
        if dumped is None:
            return
        code = dumped.f_code
        names = list(getattr(code, "co_varnames", ()) or ())
        count = int(getattr(code, "co_argcount", 0) or 0) + int(getattr(code, "co_kwonlyargcount", 0) or 0)
        flags = int(getattr(code, "co_flags", 0) or 0)
        count += bool(flags & 0x04) + bool(flags & 0x08)  # CO_VARARGS, CO_VARKEYWORDS
        local_vars = self.curframe_locals  # type: ignore[attr-defined]
        for name in names[:count]:
            if name in local_vars:
                self.message(f"{name} = {bounded_repr(local_vars[name], PDB_REPR)}")  # type: ignore[attr-defined]
            else:
                self.message(f"{name} = *** undefined ***")  # type: ignore[attr-defined]

    do_a = do_args

    def _refuse(self, command: str) -> None:
        self.message(_RUNS_PROGRAM.format(command=command))  # type: ignore[attr-defined]

    def do_continue(self, arg: str) -> None:
        """c(ont(inue))
        Refused: a dump is not a running program."""
        self._refuse("continue")

    do_c = do_cont = do_continue

    def do_step(self, arg: str) -> None:
        """s(tep)
        Refused: a dump is not a running program."""
        self._refuse("step")

    do_s = do_step

    def do_next(self, arg: str) -> None:
        """n(ext)
        Refused: a dump is not a running program."""
        self._refuse("next")

    do_n = do_next

    def do_until(self, arg: str) -> None:
        """unt(il)
        Refused: a dump is not a running program."""
        self._refuse("until")

    do_unt = do_until

    def do_return(self, arg: str) -> None:
        """r(eturn)
        Refused: a dump is not a running program."""
        self._refuse("return")

    do_r = do_return

    def do_jump(self, arg: str) -> None:
        """j(ump) lineno
        Refused: a dump is not a running program."""
        self._refuse("jump")

    do_j = do_jump


def _with_callers(
    stack: list[Any], index: int, f: types.FrameType | None, t: types.TracebackType | None
) -> tuple[list[Any], int]:
    if f is None and t is not None and stack:
        callers = [(frame, frame.f_lineno) for frame in iter_stack(stack[0][0].f_back)]
        callers.reverse()
        stack = callers + stack
        index += len(callers)
    return stack, index


def _thread_line(number: int, stack: ReenactedStack, shown: bool) -> str:
    thread = stack.thread
    kind = thread.kind + (f" ({thread.state})" if thread.state else "")
    mark = "*" if shown else " "
    line = f"{mark} {number:>3}  {thread.name!s:<20} ident {thread.ident!s:<16} {kind:<14} {_where(stack.top)}"
    if thread.current:
        line += "  (dumped here)"
    return line


# ---- front ends ----


def _dump_class(base: type, name: str) -> type:
    return type(name, (DumpDebuggerMixin, base), {"__module__": __name__})


def _run_pdb_family(debugger: Any, reenactment: Reenactment, thread: int | None) -> None:
    debugger.attach_dump(reenactment)
    for line in banner(reenactment.dump):
        debugger.message(line)
    frame, tb_or_exc = _start(reenactment, thread)
    debugger.reset()
    debugger.interaction(frame, tb_or_exc)


def _pdb_frontend(reenactment: Reenactment, thread: int | None, stdin: IO[str] | None, stdout: IO[str] | None) -> None:
    import pdb

    debugger = _dump_class(pdb.Pdb, "DumpPdb")(stdin=stdin, stdout=stdout)
    _run_pdb_family(debugger, reenactment, thread)


def _require(module: str, package: str, debugger: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise DebuggerError(f"--debugger {debugger} needs {package}: pip install {package}") from error


def _ipdb_frontend(reenactment: Reenactment, thread: int | None, stdin: IO[str] | None, stdout: IO[str] | None) -> None:
    _require("ipdb", "ipdb", "ipdb")
    # ipdb's own choice is IPython's TerminalPdb, which needs a terminal (prompt_toolkit); on a pipe,
    # IPython's plain Pdb gives the same commands and colours reading lines.
    interactive = (stdin or sys.stdin).isatty()
    if interactive:
        base = _require("IPython.terminal.debugger", "ipdb", "ipdb").TerminalPdb
    else:
        base = _require("IPython.core.debugger", "ipdb", "ipdb").Pdb
    kwargs: dict[str, Any] = {}
    if not interactive:
        kwargs = {"stdin": stdin or sys.stdin, "stdout": stdout or sys.stdout}
    elif stdout is not None:
        kwargs["stdout"] = stdout
    debugger = _dump_class(base, "DumpIpdb")(**kwargs)
    _run_pdb_family(debugger, reenactment, thread)


def _pdbpp_frontend(
    reenactment: Reenactment, thread: int | None, stdin: IO[str] | None, stdout: IO[str] | None
) -> None:
    # pdbpp installs itself as the module `pdb` (its class still subclasses the standard library's);
    # `pdbpp` names it in newer releases.
    try:
        module = importlib.import_module("pdbpp")
    except ImportError:
        module = importlib.import_module("pdb")
        if not hasattr(module, "PdbMeta") and "pdbpp" not in getattr(module, "__file__", ""):
            raise DebuggerError("--debugger pdbpp needs pdbpp: pip install pdbpp") from None
    debugger = _dump_class(module.Pdb, "DumpPdbpp")(stdin=stdin, stdout=stdout)
    _run_pdb_family(debugger, reenactment, thread)


class _PudbStackMixin:
    """pudb shows what bdb's get_stack returns; give it the callers of the traceback's first frame too."""

    def get_stack(self, f: types.FrameType | None, t: types.TracebackType | None) -> tuple[list[Any], int]:
        stack, index = super().get_stack(f, t)  # type: ignore[misc]
        return _with_callers(stack, index, f, t)


def _pudb_frontend(reenactment: Reenactment, thread: int | None, stdin: IO[str] | None, stdout: IO[str] | None) -> None:
    _require("pudb", "pudb", "pudb")
    pudb_debugger = importlib.import_module("pudb.debugger")
    cls = type("DumpPudb", (_PudbStackMixin, pudb_debugger.Debugger), {"__module__": __name__})
    kwargs: dict[str, Any] = {}
    if stdin is not None:
        kwargs["stdin"] = stdin
    if stdout is not None:
        kwargs["stdout"] = stdout
    debugger = cls(**kwargs)
    frame, tb_or_exc = _start(reenactment, thread)
    if isinstance(tb_or_exc, BaseException):
        tb_or_exc = tb_or_exc.__traceback__
    exc_tuple = None
    if isinstance(tb_or_exc, types.TracebackType):
        exc = reenactment.exception
        exc_tuple = (type(exc), exc, tb_or_exc)
    debugger.reset()
    # post_mortem: pudb shows the stop as a finished program and refuses step/next/continue itself.
    debugger.post_mortem = True
    try:
        debugger.interaction(frame, exc_tuple)
    finally:
        # pudb keeps one debugger per process; forget it so a later session starts clean.
        current = getattr(pudb_debugger.Debugger, "_current_debugger", None)
        if current:
            current.clear()


register_debugger("pdb", _pdb_frontend)
register_debugger("ipdb", _ipdb_frontend)
register_debugger("pdbpp", _pdbpp_frontend)
register_debugger("pudb", _pudb_frontend)


register_debug_dump(debug_dump)
