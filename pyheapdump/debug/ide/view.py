"""What an IDE is shown of a dump, independent of the wire protocol: stacks, frames, variables, sources, evaluation.

Stacks are the re-enacted ones (`pyheapdump.reenact.frames.reenact`): one per dumped thread, asyncio task and greenlet,
numbered 1..N as pdb's `threads` numbers them, plus one stack per exception of the dumped exception's chain that has
a traceback (its frames with their callers, like pdb's view after a crash). Locals and globals are the dumped dicts
themselves (`Reenactment.dumped(frame)`), so what the IDE sets or evaluates acts on the same objects pdb would see.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import dataclasses
import io
import os
import traceback
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pyheapdump.present.children import Child, _named, _split_special, children
from pyheapdump.reenact.frames import Reenactment, iter_stack

CLIPBOARD_LIMIT = 1 << 20  # characters of a value copied to the clipboard


class EvaluationError(Exception):
    """A user's expression failed; the message is what the IDE shows."""


# ---- stacks and frames ----


@dataclasses.dataclass(eq=False)
class PresentedFrame:
    id: int
    frame: types.FrameType
    line: int
    locals: dict[str, Any]
    globals: dict[str, Any]

    @property
    def name(self) -> str:
        return self.frame.f_code.co_qualname

    @property
    def filename(self) -> str:
        return self.frame.f_code.co_filename


@dataclasses.dataclass(eq=False)
class PresentedStack:
    """A stack as the IDE lists it: a dumped thread or extra stack, or an exception's traceback."""

    id: int
    name: str
    frames: list[PresentedFrame]  # innermost first
    exception: BaseException | None = None


def _exception_text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # a rebuilt exception's __str__ may not cope with its rebuilt args
        text = "<unprintable>"
    return f"{type(exc).__qualname__}: {text}" if text else type(exc).__qualname__


def _labelled_chain(exc: BaseException | None) -> Iterator[tuple[str, BaseException]]:
    """The exception and the ones linked to it, each once, with how it is linked."""
    seen: set[int] = set()
    pending: list[tuple[str, Any]] = [("exception", exc)]
    while pending:
        label, current = pending.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield label, current
        pending.append(("cause", current.__cause__))
        if not current.__suppress_context__:
            pending.append(("context", current.__context__))
        pending += [("group member", member) for member in getattr(current, "exceptions", ()) or ()]


class DumpView:
    """The stacks, frames, variables and sources of one re-enacted dump, with ids the way DAP hands them out."""

    def __init__(self, reenactment: Reenactment) -> None:
        self.reenactment = reenactment
        self.dump = reenactment.dump
        self._frames: dict[int, PresentedFrame] = {}
        self.stacks: list[PresentedStack] = []
        self._make_thread_stacks()
        self.exception_stacks = self._make_exception_stacks()
        self.variables = VariableHandles()
        self.sources = SourceTable(self.dump.sources)

    # -- building --

    def _frame(self, frame: types.FrameType, line: int) -> PresentedFrame:
        dumped = self.reenactment.dumped(frame)
        local_vars = dumped.f_locals if dumped is not None and isinstance(dumped.f_locals, dict) else {}
        global_vars = dumped.f_globals if dumped is not None and isinstance(dumped.f_globals, dict) else {}
        presented = PresentedFrame(len(self._frames) + 1, frame, line, local_vars, global_vars)
        self._frames[presented.id] = presented
        return presented

    def _make_thread_stacks(self) -> None:
        for number, stack in enumerate(self.reenactment.stacks, start=1):
            thread = stack.thread
            name = str(thread.name)
            if thread.kind != "thread":
                name = f"{thread.kind} {name}" + (f" ({thread.state})" if thread.state else "")
            if thread.current:
                name += " (dumped here)"
            frames = [self._frame(frame, frame.f_lineno or 0) for frame in reversed(stack.frames)]
            self.stacks.append(PresentedStack(number, name, frames))

    def _make_exception_stacks(self) -> list[PresentedStack]:
        result = []
        for label, exc in _labelled_chain(self.reenactment.exception):
            tb = exc.__traceback__
            if tb is None:
                continue
            entries = [(frame, line) for frame, line in traceback.walk_tb(tb)]
            callers = [(frame, frame.f_lineno or 0) for frame in iter_stack(entries[0][0].f_back)]
            frames = [self._frame(frame, line) for frame, line in reversed(entries)]
            frames += [self._frame(frame, line) for frame, line in callers]
            number = len(self.stacks) + 1
            stack = PresentedStack(number, f"{label}: {_exception_text(exc)}", frames, exc)
            self.stacks.append(stack)
            result.append(stack)
        return result

    # -- lookups --

    @property
    def listed(self) -> list[PresentedStack]:
        """The stacks in the order an IDE lists them: the exception's first, then the dumped threads."""
        return self.exception_stacks + [s for s in self.stacks if s.exception is None]

    def stack(self, stack_id: int) -> PresentedStack:
        for stack in self.stacks:
            if stack.id == stack_id:
                return stack
        raise EvaluationError(f"no thread {stack_id}: the dump holds threads 1 to {len(self.stacks)}")

    def frame(self, frame_id: int) -> PresentedFrame:
        try:
            return self._frames[frame_id]
        except KeyError:
            raise EvaluationError(f"no frame {frame_id} in this dump") from None

    @property
    def stopped_stack(self) -> PresentedStack | None:
        """Where the IDE should look first: the exception, else the thread that called the dump."""
        if self.exception_stacks:
            return self.exception_stacks[0]
        explicit = self.reenactment.frame
        for stack in self.stacks:
            if explicit is not None and stack.frames and stack.frames[0].frame is explicit:
                return stack
        for stack, dumped in zip(self.stacks, self.reenactment.stacks, strict=False):
            if dumped.thread.current:
                return stack
        return self.stacks[0] if self.stacks else None

    def exception_of(self, stack_id: int) -> BaseException | None:
        """The exception a stack shows; for a dumped thread, the dump's exception."""
        for stack in self.stacks:
            if stack.id == stack_id and stack.exception is not None:
                return stack.exception
        return self.reenactment.exception

    # -- evaluation --

    def evaluate(self, expression: str, frame_id: int | None, context: str) -> tuple[Any, str]:
        """Evaluate `expression` in a frame's dumped namespace: (value, printed output).

        `hover` evaluates names, attributes, subscripts and constants only (hovering must not call anything);
        `repl` also runs statements (assignments change the dumped values in this session, as pdb's `!` does).
        """
        frame = self._evaluation_frame(frame_id)
        local_vars, global_vars = frame.locals, _with_real_builtins(frame.globals)
        if context == "hover":
            _require_plain_lookup(expression)
        try:
            code, is_statement = _compile(expression, allow_statements=context == "repl")
        except SyntaxError as error:
            raise EvaluationError(f"SyntaxError: {error.msg}") from None
        output = io.StringIO()
        try:
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                value = eval(code, global_vars, local_vars)
        except Exception as error:
            raise EvaluationError(f"{type(error).__name__}: {error}") from None
        return (None if is_statement else value), output.getvalue()

    def _evaluation_frame(self, frame_id: int | None) -> PresentedFrame:
        if frame_id is not None:
            return self.frame(frame_id)
        stack = self.stopped_stack
        if stack is None or not stack.frames:
            raise EvaluationError("the dump holds no frame to evaluate in")
        return stack.frames[0]


def _with_real_builtins(global_vars: dict[str, Any]) -> dict[str, Any]:
    """The dumped globals, with this interpreter's builtins: whatever the dump put under `__builtins__` is data."""
    dumped = global_vars.get("__builtins__")
    if dumped is builtins or dumped is builtins.__dict__:
        return global_vars
    return {**global_vars, "__builtins__": builtins}


_PLAIN_LOOKUP = (
    ast.Expression,
    ast.Name,
    ast.Attribute,
    ast.Subscript,
    ast.Constant,
    ast.Load,
    ast.Slice,
    ast.Tuple,
    ast.UnaryOp,
    ast.USub,
)


def _require_plain_lookup(expression: str) -> None:
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise EvaluationError("hover shows names, attributes and items only") from None
    if not all(isinstance(node, _PLAIN_LOOKUP) for node in ast.walk(tree)):
        raise EvaluationError("hover shows names, attributes and items only; evaluate calls in the debug console")


def _compile(expression: str, allow_statements: bool) -> tuple[types.CodeType, bool]:
    source = expression.strip()
    try:
        return compile(source, "<debug console>", "eval"), False
    except SyntaxError:
        if not allow_statements:
            raise
    return compile(source + "\n", "<debug console>", "exec"), True


# ---- variable references ----


@dataclasses.dataclass
class _Expansion:
    """What a variables reference expands to: a function giving the children."""

    list_children: Callable[[], list[Child]]


class VariableHandles:
    """Hands out variablesReference numbers; one number per expanded object, so the IDE keeps its tree stable."""

    def __init__(self) -> None:
        self._expansions: dict[int, _Expansion] = {}
        self._by_key: dict[Any, int] = {}
        self._keep: list[Any] = []  # the objects whose id() is a key, kept alive so ids stay unique

    def _register(self, key: Any, list_children: Callable[[], list[Child]], keep: Any = None) -> int:
        ref = self._by_key.get(key)
        if ref is None:
            ref = len(self._expansions) + 1
            self._expansions[ref] = _Expansion(list_children)
            self._by_key[key] = ref
            self._keep.append(keep)
        return ref

    def for_value(self, value: Any, evaluate_name: str | None) -> int:
        key = ("value", id(value), evaluate_name)
        return self._register(key, lambda: children(value, evaluate_name), keep=value)

    def for_scope(self, name: str, frame: PresentedFrame, mapping: dict[str, Any]) -> int:
        def list_children() -> list[Child]:
            plain, special = _split_special(mapping)
            result = _named(plain)
            if special:
                text = f"{len(special)} names"
                special_child = Child(
                    "special variables", special, hint="virtual", text=text, expand=lambda: _named(special)
                )
                result.insert(0, special_child)
            return result

        return self._register(("scope", name, frame.id), list_children)

    def for_children(self, key: Any, list_children: Callable[[], list[Child]]) -> int:
        return self._register(key, list_children)

    def children(self, ref: int) -> list[Child]:
        expansion = self._expansions.get(ref)
        if expansion is None:
            raise EvaluationError(f"no variables reference {ref}")
        return expansion.list_children()


# ---- sources ----


class SourceTable:
    """Every source file of the dump under a sourceReference number, so the IDE asks for the dumped text."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self._texts = {name: text for name, text in sources.items() if isinstance(name, str) and isinstance(text, str)}
        self._refs: dict[str, int] = {}
        for name in sorted(self._texts):
            self.reference(name)

    def reference(self, filename: str) -> int:
        ref = self._refs.get(filename)
        if ref is None:
            ref = self._refs[filename] = len(self._refs) + 1
        return ref

    def describe(self, filename: str) -> dict[str, Any]:
        source: dict[str, Any] = {"name": _display_name(filename), "sourceReference": self.reference(filename)}
        if not (filename.startswith("<") and filename.endswith(">")):
            source["path"] = filename
        if filename in self._texts:
            source["origin"] = "heap dump"
        else:
            source["presentationHint"] = "deemphasize"
            source["origin"] = "not in the dump"
        return source

    def dumped(self) -> list[str]:
        return sorted(self._texts)

    def text(self, ref: int) -> str:
        for name, number in self._refs.items():
            if number == ref:
                if name in self._texts:
                    return self._texts[name]
                raise EvaluationError(f"the dump holds no source of {name} (its code was dumped without the file)")
        raise EvaluationError(f"no source {ref} in this dump")


def _display_name(filename: str) -> str:
    return os.path.basename(filename) or filename
