"""Code objects that re-enact one frame: a template per shape of frame (its arguments, its callees), with the
dumped filename, names and lines."""

from __future__ import annotations

import builtins
import dataclasses
import functools
import types
import warnings
from typing import Any

from pyheapdump.model import DumpedFrame
from pyheapdump.reenact.chains import _Node
from pyheapdump.reenact.linetable import _CODE_UNIT, _MAX_LINE, _line_table, _plain


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
