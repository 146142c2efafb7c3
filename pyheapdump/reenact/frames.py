"""Re-enact dumped stacks as real frame and traceback objects.

Debuggers, `inspect` and `traceback` want real frames; a frame can only be made by running code. So for
every dumped frame we make a small function whose code object carries the dumped filename, names and
line, whose arguments are the dumped local variables, and whose globals are the dumped globals dict.
Each such function calls the functions of the frames it called, so CPython links `f_back` itself; every
function hands its own frame to a capture helper and returns. What stays behind are finished frames,
exactly like the frames of an exception's traceback.

Why functions and not `exec()` at each level: a Python-to-Python call does not grow the C stack on
3.11+, so stacks tens of thousands of frames deep re-enact within the (temporarily raised) recursion
limit, whereas `exec` recurses in C and hits the fixed C recursion limit of 3.12 after ~700 levels.
The price: a function frame's `f_locals` is a copy of the dumped locals (3.11/3.12) or a view of its
arguments (3.13+), equal in content to the dumped dict but not the same object. Frames whose locals
are their globals (module level) run as module code and do use the dumped dict itself.

Every code object gets a hand-written line table: each instruction maps to a dumped line and carries
no column, so `f_lineno`, `tb_lineno`, pdb's `>>` marker and `traceback`'s output show dumped lines
and never point carets into our synthetic statements.

Each tree of frames (a stack, with the tracebacks that branch off it) runs in its own short-lived
helper thread started by `_thread.start_new_thread`, so its root frame has no `f_back`; the thread
ends as soon as the frames are captured.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Iterable

from pyheapdump.model import DumpedFrame, DumpedThread, HeapDump
from pyheapdump.reenact.chains import _Entry, _FrameGraph, _traceback_chains
from pyheapdump.reenact.linetable import _CODE_UNIT, _Location
from pyheapdump.reenact.runner import _run_trees


@dataclasses.dataclass(eq=False)
class ReenactedStack:
    """A dumped stack (thread, asyncio task, greenlet) as real frames, outermost first."""

    thread: DumpedThread
    frames: list[types.FrameType]

    @property
    def top(self) -> types.FrameType | None:
        return self.frames[-1] if self.frames else None


@dataclasses.dataclass(eq=False)
class Reenactment:
    """The real frames and tracebacks made from one dump."""

    dump: HeapDump
    stacks: list[ReenactedStack]
    exception: BaseException | None
    traceback: types.TracebackType | None
    frame: types.FrameType | None
    _real: dict[int, types.FrameType]
    _dumped: dict[int, DumpedFrame]

    def real(self, dumped: DumpedFrame) -> types.FrameType:
        """The real frame re-enacting `dumped`."""
        return self._real[id(dumped)]

    def dumped(self, frame: types.FrameType) -> DumpedFrame | None:
        """The dumped frame that `frame` re-enacts, or None for a frame that is not ours."""
        return self._dumped.get(id(frame))

    @property
    def current_stack(self) -> ReenactedStack | None:
        for stack in self.stacks:
            if stack.thread.current:
                return stack
        return self.stacks[0] if self.stacks else None


def reenact(dump: HeapDump) -> Reenactment:
    """Make real frames for every dumped stack and real tracebacks for the exception and its chain."""
    chains = _traceback_chains(dump)
    graph = _FrameGraph.build(dump, chains)
    real = _run_trees(graph)
    stacks = [ReenactedStack(thread, [real[id(f)] for f in thread.frames]) for thread in dump.threads]
    main_tb = None
    for exc, chain in chains:
        tb = _real_traceback(chain, real, graph)
        if isinstance(exc, BaseException):
            exc.__traceback__ = tb
        if exc is dump.exception:
            main_tb = tb
    return Reenactment(
        dump=dump,
        stacks=stacks,
        exception=dump.exception,
        traceback=main_tb,
        frame=real.get(id(dump.frame)) if dump.frame is not None else None,
        _real=real,
        _dumped={id(frame): graph.nodes[key].dumped for key, frame in real.items()},
    )


def _real_traceback(
    entries: list[_Entry], real: dict[int, types.FrameType], graph: _FrameGraph
) -> types.TracebackType | None:
    tb = None
    for frame, line, location in reversed(entries):
        real_frame = real[id(frame)]
        tb = types.TracebackType(tb, real_frame, _lasti_for(real_frame.f_code, location), line)
    return tb


def _lasti_for(code: types.CodeType, location: _Location) -> int:
    """The offset of an instruction of `code` at `location`, so that pdb's `>>` marker and the carets of
    `traceback` agree with the dumped entry."""
    fallback = -1
    for index, position in enumerate(code.co_positions()):
        if position == location:
            return index * _CODE_UNIT
        if fallback < 0 and position[0] == location[0]:
            fallback = index * _CODE_UNIT
    return fallback


def iter_stack(frame: types.FrameType | None) -> Iterable[types.FrameType]:
    """`frame` and its callers, innermost first."""
    while frame is not None:
        yield frame
        frame = frame.f_back
