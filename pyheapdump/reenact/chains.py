"""Which dumped frame calls which, at which line: the exception chains as lists of (frame, line) and the graph
of frames that the runner turns into real frames."""

from __future__ import annotations

import dataclasses
import sys
import types
import warnings
from collections.abc import Iterator
from typing import Any

from pyheapdump.model import DumpedFrame, DumpedTraceback, HeapDump
from pyheapdump.reenact.linetable import _CODE_UNIT, _MAX_LINE, _Location


def _exception_chain(exc: BaseException | None) -> Iterator[BaseException]:
    """The exception, its causes and contexts and group members, each once."""
    seen: set[int] = set()
    pending = [exc] if exc is not None else []
    while pending:
        current = pending.pop()
        if id(current) in seen or not isinstance(current, BaseException):
            continue
        seen.add(id(current))
        yield current
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        pending.extend(e for e in getattr(current, "exceptions", ()) or () if isinstance(e, BaseException))


# A source location as code objects report them: (line, end line, column, end column); columns may be None.


_Entry = tuple[DumpedFrame, int, _Location]
_Chains = list[tuple[BaseException, list[_Entry]]]


def _entries(tb: DumpedTraceback | None, positions: _SourcePositions) -> list[_Entry]:
    entries = []
    seen: set[int] = set()
    while isinstance(tb, DumpedTraceback) and id(tb) not in seen:
        seen.add(id(tb))
        if isinstance(tb.tb_frame, DumpedFrame):
            line = _line(tb.tb_lineno)
            entries.append((tb.tb_frame, line, positions.find(tb.tb_frame, line, tb.tb_lasti)))
        tb = tb.tb_next
    return entries


def _traceback_chains(dump: HeapDump) -> _Chains:
    positions = _SourcePositions(dump)
    chains = []
    for exc in _exception_chain(dump.exception):
        entries = _entries(dump.tracebacks.get(id(exc)), positions)
        if not entries and exc is dump.exception:
            entries = [(f, _line(f.f_lineno), positions.find(f, _line(f.f_lineno), f.f_lasti)) for f in dump.traceback]
        if entries:
            chains.append((exc, entries))
    return chains


class _SourcePositions:
    """Recovers the columns of a traceback entry by compiling the dumped source, as `traceback` shows them.

    The dump keeps each frame's line and instruction offset, not its columns. When the dump comes from
    the same Python version (so the same compiler and offsets) and the dumped source compiles, the
    dumped code object's twin gives the exact positions; otherwise the entry has a line only.
    """

    def __init__(self, dump: HeapDump) -> None:
        version = str(dump.metadata.get("python", ""))
        self._usable = version.split(".")[:2] == [str(sys.version_info[0]), str(sys.version_info[1])]
        self._sources = dump.sources
        self._codes: dict[str, dict[tuple[str, int], types.CodeType]] = {}

    def _codes_of(self, filename: str) -> dict[tuple[str, int], types.CodeType]:
        if filename not in self._codes:
            index: dict[tuple[str, int], types.CodeType] = {}
            text = self._sources.get(filename)
            if isinstance(text, str):
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        pending = [compile(text, filename, "exec", dont_inherit=True)]
                except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError):
                    pending = []
                while pending:
                    code = pending.pop()
                    index.setdefault((code.co_qualname, code.co_firstlineno), code)
                    pending.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
            self._codes[filename] = index
        return self._codes[filename]

    def find(self, frame: DumpedFrame, line: int, lasti: Any) -> _Location:
        plain: _Location = (line, line, None, None)
        code = frame.f_code
        if not self._usable or not isinstance(lasti, int) or lasti < 0:
            return plain
        filename, qualname = getattr(code, "co_filename", None), getattr(code, "co_qualname", None)
        if not isinstance(filename, str) or not isinstance(qualname, str):
            return plain
        twin = self._codes_of(filename).get((qualname, getattr(code, "co_firstlineno", None)))  # type: ignore[arg-type]
        if twin is None:
            return plain
        for index, position in enumerate(twin.co_positions()):
            if index == lasti // _CODE_UNIT:
                start, end, column, end_column = position
                if start != line or end is None:
                    return plain  # the source changed since, or the offset means something else
                return (start, end, column, end_column)
        return plain


def _line(value: Any) -> int:
    return value if isinstance(value, int) and 0 <= value <= _MAX_LINE else 0


@dataclasses.dataclass(eq=False)
class _Node:
    dumped: DumpedFrame
    parent: _Node | None = None
    children: list[_Node] = dataclasses.field(default_factory=list)
    call_line: dict[int, int] = dataclasses.field(default_factory=dict)  # id(child node) -> line
    tb_points: list[_Location] = dataclasses.field(default_factory=list)

    @property
    def lineno(self) -> int:
        return _line(self.dumped.f_lineno)


@dataclasses.dataclass
class _FrameGraph:
    nodes: dict[int, _Node]  # id(DumpedFrame) -> node

    @classmethod
    def build(cls, dump: HeapDump, chains: _Chains) -> _FrameGraph:
        graph = cls({})
        lists = [thread.frames for thread in dump.threads]
        for frame in _all_frames(dump, lists, chains):
            graph.nodes[id(frame)] = _Node(frame)
        # Who called whom: the dumped stacks' order first (asyncio task stacks are built from awaits,
        # not from f_back), then traceback order (it crosses suspended coroutines), then f_back.
        for frames in lists:
            for caller, callee in zip(frames, frames[1:], strict=False):
                graph._link(caller, callee, _line(caller.f_lineno))
        for _, entries in chains:
            for (caller, line, _), (callee, _, _) in zip(entries, entries[1:], strict=False):
                graph._link(caller, callee, line)
        for node in list(graph.nodes.values()):
            back = node.dumped.f_back
            if node.parent is None and isinstance(back, DumpedFrame):
                graph._link(back, node.dumped, _line(back.f_lineno))
        for _, entries in chains:
            for frame, _, location in entries:
                node = graph.nodes[id(frame)]
                if location not in node.tb_points:
                    node.tb_points.append(location)
        graph._break_cycles()
        return graph

    def _link(self, caller: DumpedFrame, callee: DumpedFrame, line: int) -> None:
        child = self.nodes[id(callee)]
        if child.parent is not None or caller is callee:
            return
        parent = self.nodes[id(caller)]
        child.parent = parent
        parent.children.append(child)
        parent.call_line[id(child)] = line

    def _break_cycles(self) -> None:
        """A damaged dump can link frames in a circle; cut each circle where it is found."""
        state: dict[int, int] = {}  # 1: on the current path, 2: known to reach a root
        for start in self.nodes.values():
            path = []
            node: _Node | None = start
            while node is not None and id(node) not in state:
                state[id(node)] = 1
                path.append(node)
                node = node.parent
            if node is not None and state[id(node)] == 1:
                parent = node.parent
                assert parent is not None
                parent.children.remove(node)
                del parent.call_line[id(node)]
                node.parent = None
            for visited in path:
                state[id(visited)] = 2

    def roots(self) -> list[_Node]:
        return [node for node in self.nodes.values() if node.parent is None]


def _all_frames(dump: HeapDump, lists: list[list[DumpedFrame]], chains: _Chains) -> Iterator[DumpedFrame]:
    """Every dumped frame the stacks, tracebacks and explicit frame reach, with their callers, each once."""
    seen: set[int] = set()
    starts: list[DumpedFrame] = [f for frames in lists for f in frames]
    starts += [entry[0] for _, entries in chains for entry in entries]
    if isinstance(dump.frame, DumpedFrame):
        starts.append(dump.frame)
    for frame in starts:
        current: Any = frame
        while isinstance(current, DumpedFrame) and id(current) not in seen:
            seen.add(id(current))
            yield current
            current = current.f_back
