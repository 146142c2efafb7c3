"""`pyheapdump traceback DUMP`: the exception and the dumped stacks, printed the way Python prints them.

The stacks are re-enacted as real frames and tracebacks, so the text comes from the `traceback` module
itself (chained exceptions, exception groups, "[Previous line repeated N more times]" included), with
the dumped sources. What it prints: the exception's traceback (when the dump has one), then every
dumped stack; `--thread N` prints only stack N (numbered as the debugger's `threads` command does).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
import types
from collections.abc import Iterable
from typing import Any

from pyheapdump.cli._common import add_dump_argument, add_trusted_argument, load_dump_for
from pyheapdump.cli._progress import run_busy
from pyheapdump.errors import DumpError
from pyheapdump.present.values import listing_repr

NAME = "traceback"
HELP = "print the exception's traceback (chain included) and every dumped thread's stack"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dump_argument(parser)
    parser.add_argument("--locals", action="store_true", help="show each frame's local variables (reprs cut at 200)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--thread", type=int, metavar="N", help="print only dumped stack N, without the exception")
    which.add_argument("--all", action="store_true", help="the exception and every stack (the default)")
    add_trusted_argument(parser)


def _locals_of(frame: types.FrameType) -> dict[str, str]:
    return {str(name): listing_repr(value) for name, value in frame.f_locals.items()}


def _attach_locals(te: traceback.TracebackException, exc: BaseException, seen: set[int]) -> None:
    """Give every frame of `te` (and of its chain) the bounded reprs of its locals."""
    if id(te) in seen:
        return
    seen.add(id(te))
    frames = [frame for frame, _ in traceback.walk_tb(exc.__traceback__)]
    for summary, frame in zip(te.stack, frames, strict=False):
        summary.locals = _locals_of(frame)
    pairs = [(te.__cause__, exc.__cause__), (te.__context__, exc.__context__)]
    pairs += list(zip(getattr(te, "exceptions", None) or [], getattr(exc, "exceptions", ()) or (), strict=False))
    for child_te, child_exc in pairs:
        if child_te is not None and isinstance(child_exc, BaseException):
            _attach_locals(child_te, child_exc, seen)


def format_exception(exc: BaseException, with_locals: bool) -> list[str]:
    te = traceback.TracebackException.from_exception(exc)
    if with_locals:
        _attach_locals(te, exc, set())
    return list(te.format())


def format_stack(number: int, stack: Any, with_locals: bool) -> list[str]:
    thread = stack.thread
    notes = [f"ident {thread.ident}", thread.kind + (f" {thread.state}" if thread.state else "")]
    if thread.current:
        notes.append("dumped here")
    lines = [f'Stack {number}: "{thread.name}" ({", ".join(notes)}), most recent call last:\n']
    summary = traceback.StackSummary.extract((frame, frame.f_lineno) for frame in stack.frames)
    if with_locals:
        for frame_summary, frame in zip(summary, stack.frames, strict=True):
            frame_summary.locals = _locals_of(frame)
    lines += summary.format() if stack.frames else ["  (no frames)\n"]
    return lines


_FILE_LINE = re.compile(r'^(  File )"(.*)", line (\d+), in (.*)$')
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*)(:.*)?$")


def colorize(lines: Iterable[str]) -> list[str]:
    """Python 3.13's traceback colours, applied to the plain text (the same on every version)."""
    magenta, red, bold_red, reset = "\033[35m", "\033[31m", "\033[1;31m", "\033[0m"
    out = []
    for chunk in lines:
        for line in chunk.splitlines(keepends=True):
            text = line.rstrip("\n")
            ending = line[len(text) :]
            match = _FILE_LINE.match(text)
            if match:
                prefix, name, lineno, func = match.groups()
                text = f'{prefix}{magenta}"{name}"{reset}, line {magenta}{lineno}{reset}, in {magenta}{func}{reset}'
            elif not text.startswith(("Traceback", "During handling", "The above exception", "Stack ", " ")):
                exception = _EXCEPTION_LINE.match(text)
                if exception:
                    name, rest = exception.groups()
                    text = f"{bold_red}{name}{reset}" + (f"{red}{rest}{reset}" if rest else "")
            out.append(text + ending)
    return out


def use_colour(stream: Any) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def run(args: argparse.Namespace) -> int:
    from pyheapdump.present.sources import served_sources
    from pyheapdump.reenact.frames import reenact

    dump = load_dump_for(args)
    reenactment = run_busy("re-enacting stacks", lambda: reenact(dump))
    if args.thread is not None and not 1 <= args.thread <= len(reenactment.stacks):
        raise DumpError(f"the dump has no stack {args.thread}: it holds stacks 1 to {len(reenactment.stacks)}")
    lines: list[str] = []
    with served_sources(dump.sources):
        if args.thread is None:
            exc = reenactment.exception
            if isinstance(exc, BaseException):
                lines += format_exception(exc, args.locals)
            elif exc is not None:
                lines.append(f"exception (not rebuilt as an exception): {listing_repr(exc)}\n")
            for number, stack in enumerate(reenactment.stacks, start=1):
                lines += ["\n"] if lines else []
                lines += format_stack(number, stack, args.locals)
        else:
            lines += format_stack(args.thread, reenactment.stacks[args.thread - 1], args.locals)
    if use_colour(sys.stdout):
        lines = colorize(lines)
    sys.stdout.write("".join(lines))
    sys.stdout.flush()
    return 0
