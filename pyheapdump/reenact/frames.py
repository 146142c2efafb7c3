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

import _thread
import builtins
import dataclasses
import functools
import sys
import threading
import types
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

from pyheapdump.errors import DumpError
from pyheapdump.model import DumpedFrame, DumpedThread, DumpedTraceback, HeapDump

_MAX_LINE = 2**31 - 1
# Location-table entry kind "line only, no columns" (CPython Objects/locations.md, 3.11-3.13).
_NO_COLUMNS = 13
_LONG_FORM = 14  # line delta, end line delta, column + 1, end column + 1
_CODE_UNIT = 2
# How long to wait for one helper thread; a stack of 100,000 frames takes a few seconds.
_THREAD_TIMEOUT = 600.0


class ReenactError(DumpError):
    """Dumped stacks could not be turned into real frames."""


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


# ---- tracebacks as lists of (frame, line) ----


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
_Location = tuple[int, int, int | None, int | None]
# One traceback entry: the frame, its line, and where in that line (columns when they can be recovered).
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


# ---- the graph of frames: who calls whom, at which line ----


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


# ---- code objects that re-enact one frame ----


@dataclasses.dataclass(frozen=True)
class _Shape:
    """What a frame's code must do; frames of the same shape share a compiled template."""

    arg_count: int  # -1: module-level code, whose locals are its globals
    child_arg_counts: tuple[int, ...]
    marks: int
    root: bool


@functools.lru_cache(maxsize=512)
def _template(shape: _Shape) -> tuple[types.CodeType, tuple[int, ...]]:
    """Compile the statements for `shape`; return the code and the source line of each role.

    Roles, in order: the capture call, each child call, each mark. Placeholders are string constants
    replaced afterwards, so the code never looks a name up (dumped locals may shadow any name).
    """
    statements = ['"@capture"("@key")']
    # A child's arguments are one constant, an iterator over the dumped values: a code object hashes its
    # constants, and debuggers (pydevd) key caches by code object, so no dumped dict or list may be one.
    statements += [f'"@child{child}"(*"@args{child}")' for child in range(len(shape.child_arg_counts))]
    statements += [f'"@mark{i}"()' for i in range(shape.marks)]
    if shape.root:
        statements = (
            ["try:"]
            + ["    " + s for s in statements]
            + ["except BaseException:", '    "@failed"()', "finally:", '    "@done"()']
        )
    # The implicit return would share the last role's line; an explicit one keeps the frame's own line.
    statements.append('"@tail"()')
    if shape.arg_count >= 0:
        header = f"def _({', '.join(f'v{i}' for i in range(shape.arg_count))}):"
        lines = [header] + ["    " + s for s in statements]
    else:
        lines = statements
    first = 2 if shape.arg_count >= 0 else 1
    if shape.root:
        first += 1
    role_lines = tuple(range(first, first + 1 + len(shape.child_arg_counts) + shape.marks))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "'str' object is not callable": the strings are placeholders
        code = compile("\n".join(lines) + "\n", "<pyheapdump>", "exec")
    if shape.arg_count >= 0:
        code = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    return code, role_lines


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 64:
        out.append(0x40 | (value & 63))
        value >>= 6
    out.append(value)
    return bytes(out)


def _signed_varint(value: int) -> bytes:
    return _varint((-value << 1) | 1 if value < 0 else value << 1)


def _line_table(unit_locations: list[_Location], first_line: int) -> bytes:
    """A location table giving each code unit its location: line only, or line and columns when known."""
    out = bytearray()
    previous = first_line
    index = 0
    while index < len(unit_locations):
        location = unit_locations[index]
        length = 1
        while length < 8 and index + length < len(unit_locations) and unit_locations[index + length] == location:
            length += 1
        line, end_line, column, end_column = location
        if column is None or end_column is None:
            out.append(0x80 | (_NO_COLUMNS << 3) | (length - 1))
            out += _signed_varint(line - previous)
        else:
            out.append(0x80 | (_LONG_FORM << 3) | (length - 1))
            out += _signed_varint(line - previous) + _varint(max(0, end_line - line))
            out += _varint(column + 1) + _varint(end_column + 1)
        previous = line
        index += length
    return bytes(out)


def _plain(line: int) -> _Location:
    return (line, line, None, None)


def _text(value: Any, fallback: str) -> str:
    return value if isinstance(value, str) else fallback


def _local_names(frame: DumpedFrame) -> list[str]:
    local_vars = frame.f_locals if isinstance(frame.f_locals, dict) else {}
    return [name for name in local_vars if isinstance(name, str)]


def _globals_of(frame: DumpedFrame) -> dict[str, Any]:
    global_vars = frame.f_globals if isinstance(frame.f_globals, dict) else {}
    _use_real_builtins(global_vars)
    return global_vars


def _use_real_builtins(global_vars: dict[str, Any]) -> None:
    """A re-enacted frame takes its builtins from its globals' `__builtins__`. An imported module's globals hold the
    dumped process's builtins dict, which a safe load fills with surrogates (so `getattr`, `print` or `import` typed in
    pdb would raise RebuildError): the frames get this interpreter's own builtins instead, in every mode."""
    dumped = global_vars.get("__builtins__", builtins)  # without the key, a function takes the caller's builtins
    if dumped is not builtins and dumped is not builtins.__dict__:
        global_vars["__builtins__"] = builtins


def _module_level(frame: DumpedFrame) -> bool:
    return isinstance(frame.f_globals, dict) and frame.f_locals is frame.f_globals


def _arguments(frame: DumpedFrame) -> list[Any]:
    if _module_level(frame):
        return []
    local_vars = frame.f_locals if isinstance(frame.f_locals, dict) else {}
    return [local_vars[name] for name in _local_names(frame)]


@dataclasses.dataclass
class _Builder:
    """Turns the nodes of one tree into functions, innermost first."""

    capture: Any
    failed: Any
    done: Any
    functions: dict[int, types.FunctionType] = dataclasses.field(default_factory=dict)

    def function_for(self, node: _Node, root: bool) -> types.FunctionType:
        frame = node.dumped
        module_level = _module_level(frame)
        call_lines = set(node.call_line.values())
        marks = [p for p in node.tb_points if p[2] is not None or p[0] not in call_lines]
        shape = _Shape(
            arg_count=-1 if module_level else len(_local_names(frame)),
            child_arg_counts=tuple(len(_arguments(child.dumped)) for child in node.children),
            marks=len(marks),
            root=root,
        )
        template, role_lines = _template(shape)
        values: dict[str, Any] = {"@capture": self.capture, "@key": id(frame)}
        values.update({"@failed": self.failed, "@done": self.done})
        # A mark only needs an instruction on a traceback line; calling `int` runs no Python frame.
        values.update({f"@mark{i}": int for i in range(len(marks))}, **{"@tail": int})
        role_targets = [_plain(node.lineno)] + [_plain(node.call_line[id(c)]) for c in node.children] + marks
        for index, child in enumerate(node.children):
            values[f"@child{index}"] = self.functions.pop(id(child))
            values[f"@args{index}"] = iter(_arguments(child.dumped))
        consts = tuple(values.get(c, c) if isinstance(c, str) else c for c in template.co_consts)
        code = frame.f_code
        name = _text(getattr(code, "co_name", None), "?")
        first_line = getattr(code, "co_firstlineno", 0)
        first_line = first_line if isinstance(first_line, int) and 0 <= first_line <= _MAX_LINE else node.lineno
        line_of = dict(zip(role_lines, role_targets, strict=True))
        unit_locations = [_plain(node.lineno)] * (len(template.co_code) // _CODE_UNIT)
        for start, end, source_line in template.co_lines():
            if source_line in line_of:
                units = (end - start) // _CODE_UNIT
                unit_locations[start // _CODE_UNIT : end // _CODE_UNIT] = [line_of[source_line]] * units
        changes: dict[str, Any] = dict(
            co_consts=consts,
            co_name=name,
            co_qualname=_text(getattr(code, "co_qualname", None), name),
            co_filename=_text(getattr(code, "co_filename", None), "<unknown>"),
            co_firstlineno=first_line,
            co_linetable=_line_table(unit_locations, first_line),
        )
        if not module_level:
            changes["co_varnames"] = tuple(_local_names(frame))
        return types.FunctionType(template.replace(**changes), _globals_of(frame))


def _postorder(root: _Node) -> list[_Node]:
    """Children before parents, without recursion (stacks can be very deep)."""
    order = []
    pending = [root]
    while pending:
        node = pending.pop()
        order.append(node)
        pending.extend(node.children)
    order.reverse()
    return order


def _height(root: _Node) -> int:
    best = 0
    pending = [(root, 1)]
    while pending:
        node, depth = pending.pop()
        best = max(best, depth)
        pending.extend((child, depth + 1) for child in node.children)
    return best


_recursion_lock = threading.Lock()


def _run_trees(graph: _FrameGraph) -> dict[int, types.FrameType]:
    captured: dict[int, types.FrameType] = {}

    def capture(key: int) -> None:
        captured[key] = sys._getframe(1)

    roots = graph.roots()
    needed = max((_height(root) for root in roots), default=0) + 100
    with _recursion_lock:
        previous = sys.getrecursionlimit()
        sys.setrecursionlimit(max(previous, needed))
        try:
            for root in roots:
                _run_tree(root, capture)
        finally:
            sys.setrecursionlimit(previous)
    missing = [key for key in graph.nodes if key not in captured]
    if missing:
        raise ReenactError(f"{len(missing)} dumped frames could not be re-enacted; please report this dump")
    return captured


def _run_tree(root: _Node, capture: Any) -> None:
    errors: list[BaseException] = []
    finished = threading.Lock()
    finished.acquire()

    def failed() -> None:
        errors.append(sys.exc_info()[1] or RuntimeError("unknown failure"))

    builder = _Builder(capture=capture, failed=failed, done=finished.release)
    for node in _postorder(root):
        builder.functions[id(node)] = builder.function_for(node, root=node is root)
    root_function = builder.functions.pop(id(root))
    # Started straight from C, the root function's frame has no f_back; the thread ends when it returns
    # and never keeps the process alive.
    _thread.start_new_thread(root_function, tuple(_arguments(root.dumped)))
    if not finished.acquire(timeout=_THREAD_TIMEOUT):
        raise ReenactError("re-enacting a dumped stack did not finish in time")
    if errors:
        raise ReenactError(f"re-enacting a dumped stack failed: {errors[0]!r}") from errors[0]


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
