"""load_dump: rebuild a dump's objects, safely by default.

Safe loading imports no module and calls nothing the dump names, beyond the fixed allow-lists below of standard
library value types (datetime, Decimal, Fraction, UUID, paths, collections, re patterns, enum members of allow-listed
enums, ...) and the type supports that declare themselves safe (numpy arrays). Everything else comes back as a
surrogate. `trusted=True` imports what the dump names and rebuilds real instances; an object that still cannot be
rebuilt becomes a surrogate on its own.
"""

from __future__ import annotations

import ast
import builtins
import enum
import gc
import importlib
import importlib.util
import json
import os
import sys
import types
import warnings
from collections import OrderedDict, defaultdict, deque
from typing import Any

from pyheapdump import _native
from pyheapdump._main_rebuild import MainRebuilder, set_defaults
from pyheapdump.errors import DumpFormatError, DumpMemoryError, DumpNotFoundError
from pyheapdump.model import DumpedCode, DumpedFrame, DumpedThread, DumpedTraceback, HeapDump
from pyheapdump.surrogates import base as surrogate_base
from pyheapdump.surrogates.base import (
    Surrogate,
    SurrogateFunction,
    SurrogateInfo,
    SurrogateModule,
    attach_info,
    surrogate_class,
)
from pyheapdump.surrogates.namedtuples import METHODS as namedtuple_methods
from pyheapdump.surrogates.not_dumped import cut_container_class, not_dumped_class, truncated_with_placeholders
from pyheapdump.surrogates.truncated import truncated
from pyheapdump.surrogates.zones import datetime_in_a_missing_zone
from pyheapdump.typesupport import DumpedAnswer, support_for_type_name, support_named

__all__ = ["load_dump", "read_header", "DumpLoadWarning"]

# Record kinds (docs/format.md).
(BIGINT, COMPLEX, STR, BYTES, BYTEARRAY, LIST, TUPLE, DICT, SET, FROZENSET, DEQUE, RANGE, SLICE, INSTANCE, REDUCE,
 CLASS, FUNCTION, MODULE, CODE, FRAME, TRACEBACK, GENERATOR, CELL, EXCEPTION, CAPTURED, SURROGATE) = range(2, 28)
FLAG_TRUNCATED = 1
FLAG_CUT_ITEMS = 4
FLAG_CAPTURE_ERROR = 2
CUT_REASONS = {1: "max_objects", 2: "max_bytes", 3: "time_limit", 4: "max_items", 5: "unreadable"}

# A dump may declare at most this many decompressed bytes; loading holds a bounded multiple of it in memory.
MAX_TOTAL_RAW = 8 << 30

# Modules whose classes a safe load may instantiate: value types whose construction runs only their own
# standard-library code, and never calls, or lazily iterates, what it is given.
SAFE_MODULES = frozenset({
    "datetime", "decimal", "fractions", "uuid", "pathlib", "collections", "re", "enum", "ipaddress", "array",
    "zoneinfo", "copyreg",
})
# Classes of other standard-library modules that a safe load may instantiate; besides these, the Enum classes of the
# modules in SAFE_IMPORTS (calling one only looks a member up).
SAFE_CLASSES = frozenset({("types", "SimpleNamespace"), ("argparse", "Namespace"), ("functools", "partial")})
# The builtin classes a safe load may instantiate (and every builtin exception). Not map, filter, zip, enumerate,
# reversed, iter's iterators, property or type: list(map(eval, [...])) would run code the dump chose.
SAFE_BUILTIN_CLASSES = frozenset({
    int, float, complex, str, bytes, bytearray, bool, list, tuple, dict, set, frozenset, range, slice, object,
})
# The builtin functions a safe load may hand out as themselves: calling them runs no code the dump could choose.
# Any other (eval, exec, open, getattr, __import__, ...) loads as a surrogate function that refuses to run, so a
# dumped defaultdict(partial(eval, "...")) cannot run its payload when someone reads a missing key.
SAFE_BUILTIN_FUNCTIONS = frozenset({
    "abs", "all", "any", "ascii", "bin", "callable", "chr", "divmod", "format", "hash", "hex", "id", "isinstance",
    "issubclass", "len", "max", "min", "oct", "ord", "pow", "repr", "round", "sorted", "sum",
})
# Standard-library modules a safe load may import to find a class by name (importing them has no side effects).
SAFE_IMPORTS = SAFE_MODULES | {"types", "argparse", "functools", "signal", "socket", "http", "inspect"}
# Functions a safe load may call as the callable of a reduce.
SAFE_CALLABLES = frozenset({
    ("copyreg", "_reconstructor"), ("copyreg", "__newobj__"), ("copyreg", "__newobj_ex__"),
    ("re", "_compile"), ("array", "_array_reconstructor"), ("functools", "partial"),
    ("pathlib", "PurePath._from_parts"),
})
_NEWOBJ = {("copyreg", "__newobj__"), ("copyreg", "__newobj_ex__")}
_CONTAINER_KINDS = {LIST: list, TUPLE: tuple, DICT: dict, SET: set, FROZENSET: frozenset, DEQUE: deque}
_IMMUTABLE_VALUES = (int, float, complex, str, bytes)
_VALUE_BASES = (int, float, complex, str, bytes, bytearray, list, tuple, dict, set, frozenset, deque)


class DumpLoadWarning(UserWarning):
    """Part of a dump could not be loaded; the rest was."""


_MISSING = object()


def _open_reader(path: str | os.PathLike[str]) -> Any:
    filename = os.fspath(path)
    if os.path.isdir(filename):
        raise DumpFormatError(f"{filename} is a directory, not a dump file")
    if not os.path.exists(filename):
        raise DumpNotFoundError(f"no dump at {filename}: check the path")
    return _native.DumpReader(filename, MAX_TOTAL_RAW)


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The dump's header merged with its summary, plus `file_size` and `warnings`, without loading any object."""
    reader = _open_reader(path)
    header = _read_json(reader.header_json, "header")
    try:
        summary = _read_json(reader.summary_json, "summary")
    except DumpFormatError as error:
        summary = {"summary_error": str(error)}
    header.update(summary)
    header["file_size"] = reader.file_size
    header["warnings"] = list(reader.warnings)
    return header


def _read_json(read_chunk: Any, what: str) -> dict[str, Any]:
    try:
        text = read_chunk()
    except UnicodeDecodeError as error:  # the chunk's crc matched, but its bytes are not UTF-8: a forged file
        raise DumpFormatError(f"the dump's {what} is not valid UTF-8 ({error.reason} at byte {error.start}): "
                              "the file is damaged") from None
    return _parse_json(text, what)


def _parse_json(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:  # RecursionError: arrays nested deeper than the parser goes
        raise DumpFormatError(f"the dump's {what} is not valid: {error}") from None
    if not isinstance(value, dict):
        raise DumpFormatError(f"the dump's {what} is not a JSON object")
    return value


def load_dump(path: str | os.PathLike[str], *, trusted: bool = False) -> HeapDump:
    """Loads a dump. Safe by default; `trusted=True` imports the dumped program's modules to rebuild real objects.

    A damaged file loads every intact part, with a DumpLoadWarning listing what was lost; DumpFormatError is raised
    only when nothing can be recovered. DumpMemoryError (a MemoryError too) when this process has too little memory.
    """
    metadata: dict[str, Any] = {}
    try:
        dump = _load(path, trusted, metadata)
    except MemoryError:
        # Raised below, once leaving this block has freed the half-built objects the traceback holds.
        pass
    else:
        if dump.warnings:
            warnings.warn(
                f"{os.fspath(path)}: loaded with {len(dump.warnings)} problem(s): " + "; ".join(dump.warnings[:5]),
                DumpLoadWarning,
                stacklevel=2,
            )
        return dump
    raise DumpMemoryError(_out_of_memory_message(path, metadata))


# Loading holds at most about this many times the records' raw size (README, "Reliability").
LOAD_MEMORY_FACTOR = 20


def _out_of_memory_message(path: str | os.PathLike[str], metadata: dict[str, Any]) -> str:
    raw = metadata.get("bytes")
    need = ""
    if type(raw) is int and raw > 0:
        need = (f" (its records are {_mib(raw)} raw; loading can take up to about {LOAD_MEMORY_FACTOR} times that, "
                f"{_mib(raw * LOAD_MEMORY_FACTOR)})")
    return (f"{os.fspath(path)}: loading this dump needs more memory than this process has{need}: "
            "load it on a machine with more memory, or raise this process's memory limit")


def _mib(size: int) -> str:
    return f"{size / (1 << 30):.1f} GiB" if size >= 1 << 30 else f"{size / (1 << 20):.1f} MiB"


def _load(path: str | os.PathLike[str], trusted: bool, metadata: dict[str, Any]) -> HeapDump:
    """load_dump's work; fills `metadata` (header, then summary) as soon as it is read, for the error messages."""
    reader = _open_reader(path)
    metadata.update(_read_json(reader.header_json, "header"))
    problems: list[str] = []
    try:
        metadata.update(_read_json(reader.summary_json, "summary"))
    except DumpFormatError as error:
        problems.append(f"summary: {error}")
    # Loading makes millions of containers at once; the cycle collector would rescan them all again and again.
    collecting = gc.isenabled()
    gc.disable()
    rebuilder = None
    try:
        rebuilder = Rebuilder(reader, trusted=trusted, metadata=metadata)
        sources = dict(reader.sources())
        problems.extend(reader.warnings)
        if not rebuilder.record_count:
            raise DumpFormatError(
                f"{os.fspath(path)}: no object could be recovered ({'; '.join(problems) or 'empty'})")
        dump = rebuilder.heap_dump(os.fspath(path), metadata, sources)
    finally:
        if rebuilder is not None:
            rebuilder.close()
        if collecting:
            gc.enable()
    dump.warnings[:0] = problems
    return dump


class Rebuilder:
    """Turns a dump's records into objects. Immutable objects are built once their parts exist; mutable ones are
    created empty first and filled afterwards, so cycles and shared references come back as they were.

    The order of that work, and the bulk kinds (str, bytes, plain lists, tuples, dicts, sets, instances of surrogate
    classes, reduces of safe value types), live in the native core (native/rebuilder.h); it calls back here, through
    the `_native_make`, `_surrogate_instance_class`, `_fast_reduce_callable`, `_cut_class`, `_cut_container_class`,
    `_cut`, `_lost` and `_made_of_itself` methods, for everything that needs policy. The core holds the objects made
    so far (`get`); both sides add to `problems`.
    """

    def __init__(self, reader: Any, *, trusted: bool, metadata: dict[str, Any]) -> None:
        self.problems: list[str] = []
        self.trusted = trusted
        self.metadata = metadata
        self._surrogate_types: dict[tuple[int, int, str], tuple[str, str, type, type | None]] = {}
        self._cut_classes: dict[tuple[int, int], type] = {}
        self.tracebacks: dict[int, DumpedTraceback] = {}
        self._reader = reader
        self._main: MainRebuilder | None = None
        self._main_class_details: dict[int, str] = {}
        self._classes_checked: dict[int, str | None] = {}
        unwritten = metadata.get("first_unwritten")
        self.core = _native.Rebuilder(reader, self, self.problems,
                                      unwritten if type(unwritten) is int and 0 <= unwritten < 1 << 64 else 0)
        self.records = _RecordView(self.core)

    @property
    def record_count(self) -> int:
        return len(self.core)

    def close(self) -> None:
        """Breaks the reference cycle between this handler and its core."""
        self.core.close()

    # ---- the dump as a whole ----

    def heap_dump(self, path: str, metadata: dict[str, Any], sources: dict[str, str]) -> HeapDump:
        root_id = metadata.get("root", 1)
        if type(root_id) is not int:  # a damaged summary: the format puts the root at record 1
            self.problems.append(f"the summary's root {root_id!r} is not a record id; used record 1")
            root_id = 1
        root = self.resolve(self.get(root_id))
        info = surrogate_base.surrogate_info(root)
        placeholder = info is not None and info.reason in (surrogate_base.CUT, surrogate_base.LOST)
        if not isinstance(root, dict) or placeholder:  # a placeholder of the root dict is an (empty) dict too
            if info is not None and info.reason == surrogate_base.CUT:
                limits = ", ".join(metadata.get("limits_hit") or ()) or "a limit"
                raise DumpFormatError(f"{path}: the dump holds no object: {limits} stopped the walk before its "
                                      "first one; dump again with a larger limit")
            raise DumpFormatError(f"{path}: the dump's root record is damaged; nothing can be presented")
        threads = [self._thread(entry) for entry in _listed(root.get("threads")) if isinstance(entry, dict)]
        threads += [self._thread(entry) for entry in _listed(root.get("extra_stacks")) if isinstance(entry, dict)]
        exception = root.get("exception")
        if not isinstance(exception, BaseException):
            exception = None
        explicit = root.get("frame")
        dump = HeapDump(
            path=path,
            metadata=metadata,
            threads=threads,
            exception=exception,
            traceback=self._traceback_frames(self.tracebacks.get(id(exception))) if exception is not None else [],
            sources=sources,
            warnings=self.problems,
            frame=explicit if isinstance(explicit, DumpedFrame) else None,
            tracebacks=dict(self.tracebacks),
        )
        if self._main is not None:
            self._fill_main_namespace(dump)
        return dump

    def _fill_main_namespace(self, dump: HeapDump) -> None:
        """The rebuilt __main__ functions' globals get the dumped __main__ globals (its module frame's), so they
        find the program's other classes, functions, imported modules and constants when called."""
        frames = [f for thread in dump.threads for f in thread.frames] + list(dump.traceback)
        if dump.frame is not None:
            frames.append(dump.frame)
        namespace = self._main.namespace  # type: ignore[union-attr]
        for frame in frames:
            scope = frame.f_globals
            if isinstance(scope, dict) and scope.get("__name__") == "__main__":
                for name, value in scope.items():
                    if isinstance(name, str) and name != "__builtins__":
                        namespace[name] = value
                return

    def _thread(self, entry: dict[str, Any]) -> DumpedThread:
        frames = [f for f in _listed(entry.get("frames")) if isinstance(f, DumpedFrame)]
        return DumpedThread(
            name=str(entry.get("name", "?")),
            ident=int(entry.get("ident", 0)) if isinstance(entry.get("ident", 0), int) else 0,
            daemon=bool(entry.get("daemon", False)),
            current=bool(entry.get("current", False)),
            frames=frames,
            kind=str(entry.get("kind", "thread")),
            state=str(entry.get("state", "")),
        )

    @staticmethod
    def _traceback_frames(tb: DumpedTraceback | None) -> list[DumpedFrame]:
        """The traceback as a stack: one frame per entry, at the line the exception passed, outermost first."""
        frames: list[DumpedFrame] = []
        seen: set[int] = set()
        while isinstance(tb, DumpedTraceback) and id(tb) not in seen:
            seen.add(id(tb))
            frame = tb.tb_frame
            frames.append(
                DumpedFrame(
                    f_code=frame.f_code,
                    f_lineno=tb.tb_lineno,
                    f_lasti=tb.tb_lasti,
                    f_locals=frame.f_locals,
                    f_globals=frame.f_globals,
                    f_back=frames[-1] if frames else None,
                )
            )
            tb = tb.tb_next
        return frames

    # ---- getting objects by id ----

    def get(self, oid: int) -> Any:
        return self.core.get(oid)

    def _type_object(self, type_id: int) -> Any:
        """The object of a type reference, or None when the record it names is not a CLASS: a damaged or forged
        file, whose "type" may lead on to another record and another, each one made inside the making of the last."""
        record = self.records.get(type_id)
        return self.get(type_id) if record is not None and record[1] == CLASS else None

    def _surrogate_instance_class(self, type_id: int) -> type | None:
        """For the core: the surrogate class whose instances need nothing but their state, or None for the general
        path (asked once per class)."""
        candidate = self._type_object(type_id)
        plain = isinstance(candidate, type) and issubclass(candidate, Surrogate) and _builtin_base(candidate) is None
        # A __main__ class a trusted load could not rebuild: its instances say why, one by one (the general path).
        return candidate if plain and id(candidate) not in self._main_class_details else None

    def _fast_reduce_callable(self, callable_id: int) -> Any:
        """For the core: the callable of a reduce when this load may call it with any finished value arguments
        (str, bytes, numbers) and nothing else to apply, or None (asked once per callable)."""
        function = self._resolve_callable(callable_id)
        if function is _MISSING:
            return None
        key = (getattr(function, "__module__", None), getattr(function, "__qualname__", None))
        if key in _NEWOBJ or key == ("copyreg", "_reconstructor"):
            return None  # these need their class argument checked: the general path does it
        if isinstance(function, type) and not self._class_allowed(function):
            return None
        return function

    def _native_make(self, oid: int, shell: bool) -> Any:
        """For the core: makes the object of one record the general way (an empty shell when `shell`)."""
        record = self.records.get(oid)
        if record is None:
            return self._lost(oid, f"record {oid} does not decode")
        return self._guarded(record, self._shell if shell else self._construct)

    def resolve(self, obj: Any) -> Any:
        """Finishes every pending fill, so obj and everything reachable from it is complete."""
        self.core.drain(hashing=True)
        return obj

    def value(self, raw: Any) -> Any:
        """A value read from a record: an int at a reference position is a record id, a tuple is a cut."""
        if type(raw) is tuple:
            return self._cut(*raw)
        return self.get(raw)

    def _values(self, items: list[Any], refs: list[int]) -> list[Any]:
        items = list(items)
        get = self.core.get
        for position in refs:
            raw = items[position]
            if type(raw) is int:
                items[position] = get(raw)
            else:
                items[position] = self._cut(*raw)
        return items

    def _attrs(self, attrs: dict[str, Any], refs: list[str]) -> dict[str, Any]:
        attrs = dict(attrs)
        for name in refs:
            attrs[name] = self.value(attrs[name])
        return attrs

    def _guarded(self, record: tuple[Any, ...], make: Any) -> Any:
        try:
            return make(record)
        except MemoryError:
            raise  # the whole load fails: going on without memory would present a half-made heap
        except Exception as error:  # noqa: BLE001 - one object that fails to rebuild must not fail the load
            text = _one_line(error)
            self.problems.append(f"object {record[0]}: {text}")
            return self._surrogate_for(record, surrogate_base.REBUILD_FAILED, text)

    def _defer(self, oid: int, fill: Any, hashing: bool = False) -> None:
        """Finishes oid's object later; hashing fills (dicts, sets) run after all others: keys may hash by state."""
        self.core.defer(oid, fill, hashing)

    def _complete(self, raw: Any) -> Any:
        """Finishes the objects reachable from one record before it is used (the arguments of a reduce, the state of
        a capture), without finishing everything else pending: that would nest without bound."""
        return self.core.complete(raw)

    def _finish_new_fills(self) -> None:
        """Before a dict or set hashes its keys, finishes the objects its filling just made (their state may decide
        their hash). Only at the top level: a fill nested in another would otherwise nest the whole heap."""
        self.core.finish_new_fills()

    # ---- placeholders ----

    def _made_of_itself(self, oid: int) -> Any:
        """Stands in for an object that its own making needs (its type, or its type's type, is itself): only a damaged
        or forged record does that, and following it would recurse without end."""
        self.problems.append(f"object {oid}: its record needs itself to be made (a damaged type reference)")
        return self._lost(oid, "its record needs itself to be made (a damaged type reference)")

    def _lost(self, oid: int, why: str | None = None) -> Any:
        first_unwritten = self.metadata.get("first_unwritten")
        if why is None and isinstance(first_unwritten, int) and 0 < first_unwritten <= oid:
            stopped_by = next((r for r in ("time_limit", "max_bytes") if r in self.metadata.get("limits_hit", ())),
                              "a limit")
            return not_dumped_class("pyheapdump", "CutObject", stopped_by)()
        cls = surrogate_class("pyheapdump", "LostObject", reason=surrogate_base.LOST)
        obj = cls()
        attach_info(obj, SurrogateInfo("pyheapdump", "LostObject", surrogate_base.LOST,
                                       why or f"record {oid} is not in the file (a damaged chunk)"))
        return obj

    def _cut(self, reason: int, class_id: int) -> Any:
        return self._cut_class(reason, class_id)()

    def _cut_class(self, reason: int, class_id: int) -> type:
        """The class of placeholders for values of class_id that a limit left out; the core asks once per pair and
        makes each placeholder itself (an empty instance: what it says is on the class)."""
        key = (reason, class_id)
        cls = self._cut_classes.get(key)
        if cls is None:
            module, qualname = self._class_name(class_id) if class_id else ("builtins", "object")
            cls = self._cut_classes[key] = not_dumped_class(module, qualname,
                                                            CUT_REASONS.get(reason, f"reason {reason}"))
        return cls

    @staticmethod
    def _cut_container_class(kind: int) -> type:
        """For the core: the class of a plain container whose record holds values a limit left out."""
        return cut_container_class(_CONTAINER_KINDS[kind])

    @staticmethod
    def _truncated(record: tuple[Any, ...], builtin: type, kept: Any, kept_count: int) -> Any:
        """A str, bytes or container that max_str or max_items cut: what was kept, marked as cut."""
        limit = "max_str" if record[1] in (STR, BYTES, BYTEARRAY) else "max_items"
        make = truncated_with_placeholders if record[3] & FLAG_CUT_ITEMS else truncated
        return make(builtin, kept, kept_count, record[7].get("original_length"), limit)

    def _class_name(self, class_id: int) -> tuple[str, str]:
        record = self.records.get(class_id)
        if record is None or record[1] != CLASS:
            return "builtins", "object"
        # Only names stored as records: a name cut by a limit would ask for this very class's name again.
        attrs = self._attrs(record[7], [n for n in record[8] if n in ("module", "qualname")
                                        and type(record[7][n]) is int])
        module, qualname = attrs.get("module"), attrs.get("qualname")
        return (module if isinstance(module, str) else "?", qualname if isinstance(qualname, str) else "?")

    def _surrogate_for(self, record: tuple[Any, ...], reason: str, detail: str = "",
                       state: dict[str, Any] | None = None, facts: Any = None,
                       value_args: tuple[Any, ...] = ()) -> Any:
        module, qualname, cls, builtin = self._surrogate_type(record[2], record[1], reason)
        if builtin is not None:
            obj = builtin.__new__(cls, *value_args)
        else:
            obj = object.__new__(cls)
        if state:
            _set_state_dict(obj, state)
        data = record[9]
        captured_repr = data.decode("utf-8", "replace") if isinstance(data, bytes) and data else None
        # The class already says the common case; only what is particular to this object is kept beside it.
        if captured_repr or detail or facts is not None or reason != getattr(cls, "__pyheapdump_reason__", None):
            attach_info(obj, SurrogateInfo(module, qualname, reason, detail, captured_repr, facts))
        return obj

    def _surrogate_type(self, type_id: int, kind: int, reason: str) -> tuple[str, str, type, type | None]:
        key = (type_id, kind if not type_id else 0, reason if not type_id else "")
        cached = self._surrogate_types.get(key)
        if cached is None:
            if type_id:
                module, qualname = self._class_name(type_id)
                cls = self._surrogate_class_of(type_id)
            else:
                module, qualname = "builtins", _KIND_NAMES.get(kind, "object")
                cls = surrogate_class(module, qualname, reason=reason)
            cached = self._surrogate_types[key] = (module, qualname, cls, _builtin_base(cls))
        return cached

    # ---- classes ----

    def _surrogate_class_of(self, type_id: int) -> type:
        cls = self._type_object(type_id)
        if isinstance(cls, type) and issubclass(cls, Surrogate):
            return cls
        module, qualname = self._class_name(type_id)
        return surrogate_class(module, qualname)

    def _import(self, module_name: str) -> types.ModuleType | None:
        if module_name == "__main__":
            return self._dumped_main() if self.trusted else None
        if not self.trusted and module_name.partition(".")[0] not in SAFE_IMPORTS:
            return None
        try:
            return importlib.import_module(module_name)
        except Exception:  # noqa: BLE001 - a module that is missing or fails to import: its objects become surrogates
            return None

    def _dumped_main(self) -> types.ModuleType | None:
        """A stand-in module for the dumped program's __main__: never the script itself, whose import would run its
        top level again (a script without a main guard redoes its whole job). It holds what the load rebuilt."""
        return self._main_rebuilder().module

    def _main_rebuilder(self) -> MainRebuilder:
        if self._main is None:
            try:
                sources = {k: v for k, v in self._reader.sources() if isinstance(k, str) and isinstance(v, str)}
            except (ValueError, UnicodeDecodeError, DumpFormatError):
                sources = {}
            self._main = MainRebuilder(sources, self.metadata)
        return self._main

    def _main_class(self, record: tuple[Any, ...], qualname: Any) -> Any:
        """A trusted load's real class for __main__.qualname, made from its dumped attributes and its source; or
        why not (a str)."""
        if not isinstance(qualname, str):
            return "its dumped name is damaged"
        bases = self._values(record[5], record[6])
        slots_raw = record[7].get("dict:__slots__")
        slots = self.value(self._complete(slots_raw)) if "dict:__slots__" in record[8] else slots_raw
        cls = self._main_rebuilder().class_shell(qualname, bases, slots)
        if isinstance(cls, type):
            def fill() -> None:
                values = self._attrs(record[7], [n for n in record[8] if n.startswith("dict:")])
                attributes = {n[5:]: v for n, v in values.items() if n.startswith("dict:")}
                self._main_rebuilder().fill_class(cls, attributes, self.problems)

            self._defer(record[0], fill)
        return cls

    def _main_function(self, record: tuple[Any, ...], qualname: Any) -> Any:
        """A trusted load's real function of __main__, made from the code its dumped source compiles to, with its
        dumped closure (now) and defaults (when filled); or why not (a str)."""
        oid, _, _, _, _, _, _, attrs, attr_refs, _ = record
        code_info = self.value(attrs["code"]) if "code" in attr_refs else None
        if not isinstance(code_info, DumpedCode) or not isinstance(qualname, str):
            return "the dump does not hold its code"
        code = self._main_rebuilder().code(code_info.co_filename, code_info.co_qualname, code_info.co_firstlineno)
        if isinstance(code, str):
            return code
        closure = self.value(attrs["closure"]) if "closure" in attr_refs else None
        function = self._main_rebuilder().function(code, qualname, closure)
        if isinstance(function, str):
            return function

        def fill() -> None:
            values = self._attrs(attrs, [n for n in attr_refs if n in ("defaults", "kwdefaults")])
            set_defaults(function, values.get("defaults"), values.get("kwdefaults"))

        self._defer(oid, fill)
        return function

    def _lookup(self, module_name: Any, qualname: Any) -> Any:
        if not isinstance(module_name, str) or not isinstance(qualname, str) or "<" in qualname:
            return _MISSING
        if module_name == "builtins":
            obj = getattr(builtins, qualname, _MISSING)
            return obj
        found = _attribute_path(self._import(module_name), qualname)
        if found is _MISSING and "._" in module_name:
            # A class the dumping Python kept in a private module that this one lacks or arranges otherwise
            # (3.13's pathlib._local.PosixPath is pathlib.PosixPath in 3.11): ask the public package.
            found = _attribute_path(self._import(module_name.partition("._")[0]), qualname)
        return found

    def _construct_class(self, record: tuple[Any, ...]) -> Any:
        attrs = self._attrs(record[7], [n for n in record[8] if not n.startswith("dict:")])
        module, qualname = attrs.get("module"), attrs.get("qualname")
        why_not = ""
        if self.trusted and module == "__main__":
            rebuilt = self._main_class(record, qualname)
            if isinstance(rebuilt, type):
                return rebuilt
            why_not = f"__main__.{qualname} is not rebuilt: {rebuilt}"
        elif attrs.get("importable") or module == "__main__" or self.trusted:
            real = self._lookup(module, qualname)
            if isinstance(real, type):
                return real
        bases = [b for b in self._values(record[5], record[6]) if isinstance(b, type)]
        builtin = next((b for b in (_builtin_base(base) for base in bases) if b is not None), None)
        # A safe load leaves an importable class out by choice; past the lookup above, a trusted load could not
        # import it, so it is missing here whatever the dumping process saw.
        left_out_by_choice = attrs.get("importable") and not self.trusted
        reason = surrogate_base.NOT_TRUSTED if left_out_by_choice else surrogate_base.NOT_IMPORTABLE
        cls = surrogate_class(str(module), str(qualname), builtin, reason=reason)
        if why_not:
            self._main_class_details[id(cls)] = why_not

        def fill() -> None:
            values = self._attrs(record[7], [n for n in record[8] if n.startswith("dict:")])
            _set_class_attributes(cls, {n[5:]: v for n, v in values.items() if n.startswith("dict:")})

        self._defer(record[0], fill)
        return cls

    # ---- construction of immutable and by-value objects ----

    def _construct(self, record: tuple[Any, ...]) -> Any:
        oid, kind, type_id, flags, size, items, item_refs, attrs, attr_refs, data = record
        if kind in (STR, BYTES, BYTEARRAY):
            value = bytearray(data) if kind == BYTEARRAY else data
            return self._truncated(record, type(value), value, len(value)) if flags & FLAG_TRUNCATED else value
        if kind == BIGINT:
            return int(data.decode("ascii"), 16)
        if kind == COMPLEX:
            return complex(attrs.get("real", 0.0), attrs.get("imag", 0.0))
        if kind == TUPLE:
            return self._construct_tuple(record)
        if kind == FROZENSET:
            values = self._values(items, item_refs)
            if type_id:
                return self._container_subclass(record, frozenset, values)
            if flags & FLAG_TRUNCATED:
                return self._truncated(record, frozenset, values, len(values))
            if flags & FLAG_CUT_ITEMS:
                return cut_container_class(frozenset)(values)
            return frozenset(values)
        if kind == RANGE:
            values = self._attrs(attrs, attr_refs)
            return range(values["start"], values["stop"], values["step"])
        if kind == SLICE:
            return slice(*self._values(items, item_refs))
        if kind == CLASS:
            return self._construct_class(record)
        if kind == CODE:
            return self._construct_code(record)
        if kind == EXCEPTION:
            return self._construct_exception(record)
        if kind == REDUCE:
            return self._construct_reduce(record)
        if kind == CAPTURED:
            return self._construct_captured(record)
        return self._surrogate_for(record, surrogate_base.UNKNOWN_KIND, f"record kind {kind}")

    def _construct_tuple(self, record: tuple[Any, ...]) -> Any:
        values = self._values(record[5], record[6])
        if record[2]:
            return self._container_subclass(record, tuple, values)
        if record[3] & FLAG_TRUNCATED:
            return self._truncated(record, tuple, values, len(values))
        if record[3] & FLAG_CUT_ITEMS:
            return cut_container_class(tuple)(values)
        return tuple(values)

    def _container_subclass(self, record: tuple[Any, ...], base: type, values: list[Any]) -> Any:
        cls = self._type_object(record[2])
        if not isinstance(cls, type) or not issubclass(cls, base):
            cls = surrogate_class(*self._class_name(record[2]), base)
        obj = base.__new__(cls, values)
        state = _prefixed_state(self._attrs(record[7], record[8]))
        if state:
            self._defer(record[0], lambda: _set_state_dict(obj, state))
        return obj

    def _construct_code(self, record: tuple[Any, ...]) -> DumpedCode:
        attrs = self._attrs(record[7], record[8])
        varnames = attrs.get("varnames")
        return DumpedCode(
            co_filename=str(attrs.get("filename", "?")),
            co_name=str(attrs.get("name", "?")),
            co_qualname=str(attrs.get("qualname", attrs.get("name", "?"))),
            co_firstlineno=int(attrs.get("firstlineno", 1)),
            co_argcount=int(attrs.get("argcount", 0)),
            co_posonlyargcount=int(attrs.get("posonlyargcount", 0)),
            co_kwonlyargcount=int(attrs.get("kwonlyargcount", 0)),
            co_varnames=tuple(v for v in varnames if isinstance(v, str)) if isinstance(varnames, tuple) else (),
            co_flags=int(attrs.get("flags", 0)),
        )

    def _exception_class(self, type_id: int) -> type[BaseException]:
        cls = self._type_object(type_id) if type_id else Exception
        if isinstance(cls, type) and issubclass(cls, BaseException):
            return cls
        module, qualname = self._class_name(type_id)
        return surrogate_class(module, qualname, Exception)

    def _construct_exception(self, record: tuple[Any, ...]) -> BaseException:
        oid, _, type_id, _, _, items, item_refs, attrs, attr_refs, _ = record
        cls = self._exception_class(type_id)
        args = self._values(items, item_refs)
        if issubclass(cls, BaseExceptionGroup):
            members = self.value(attrs["exceptions"]) if "exceptions" in attr_refs else attrs.get("exceptions")
            # __new__ of the builtin only: a subclass's own __init__/__new__ is the program's code.
            exc = BaseExceptionGroup.__new__(cls, args[0] if args else "", list(members or ()))
        else:
            # The nearest builtin's __new__: OSError's parses errno/strerror/filename from the args, and refuses
            # to be skipped (BaseException.__new__(FileNotFoundError) raises TypeError).
            exc = (_builtin_base(cls) or BaseException).__new__(cls, *args)
        exc.args = tuple(args)
        self._defer(oid, lambda: self._fill_exception(exc, record))
        return exc

    def _fill_exception(self, exc: BaseException, record: tuple[Any, ...]) -> None:
        attrs = self._attrs(record[7], record[8])
        _set_state_dict(exc, _prefixed_state(attrs))
        cause, context = attrs.get("cause"), attrs.get("context")
        if isinstance(cause, BaseException):
            exc.__cause__ = cause
        if isinstance(context, BaseException):
            exc.__context__ = context
        exc.__suppress_context__ = bool(attrs.get("suppress_context", False))
        if isinstance(exc, OSError):
            for name in ("filename", "filename2"):
                if name in attrs:
                    setattr(exc, name, attrs[name])
        traceback = attrs.get("traceback")
        if isinstance(traceback, DumpedTraceback):
            self.tracebacks[id(exc)] = traceback

    def _resolve_callable(self, callable_id: Any) -> Any:
        """The real callable a reduce names, when this load may call it; _MISSING otherwise."""
        if type(callable_id) is not int:
            return _MISSING
        record = self.records.get(callable_id)
        if record is None:
            return _MISSING
        if record[1] == CLASS:
            cls = self.get(callable_id)
            return cls if isinstance(cls, type) and not issubclass(cls, Surrogate) else _MISSING
        if record[1] != FUNCTION:
            return _MISSING
        attrs = self._attrs(record[7], [n for n in record[8] if n in ("module", "qualname")])
        module, qualname = attrs.get("module"), attrs.get("qualname")
        if not self.trusted and (module, qualname) not in SAFE_CALLABLES:
            return _MISSING
        if module == "__main__":  # rebuilt from the dump, never looked up in the script
            found = self.get(callable_id)
            return found if callable(found) and not isinstance(found, Surrogate) else _MISSING
        found = self._lookup(module, qualname)
        return found if callable(found) else _MISSING

    def _construct_reduce(self, record: tuple[Any, ...]) -> Any:
        oid, _, type_id, _, _, items, item_refs, _, _, _ = record
        function = self._resolve_callable(items[0] if 0 in item_refs else None)
        obj = _MISSING
        if function is not _MISSING:
            args = self.value(self._complete(items[1])) if 1 in item_refs else items[1]
            obj = self._call_reduce(function, args if isinstance(args, tuple) else ())
            if obj is _MISSING:  # a datetime whose zone is not available here: its wall time and offset at dump time
                obj = datetime_in_a_missing_zone(function, args, self._attrs(record[7], record[8])) or _MISSING
        if obj is _MISSING:
            # A surrogate needs nothing finished to exist; its state is read when it is filled, so a long chain of
            # such objects is filled one after the other, not nested.
            obj = self._surrogate_for(record, surrogate_base.NOT_TRUSTED if not self.trusted
                                      else surrogate_base.NOT_IMPORTABLE, "its class could not be rebuilt",
                                      value_args=self._value_args(record))
            self._defer(oid, lambda: self._fill_reduce_surrogate(obj, record))
            return obj
        self._defer(oid, lambda: self._apply_reduce_state(obj, record))
        return obj

    def _value_args(self, record: tuple[Any, ...]) -> tuple[Any, ...]:
        """The value of an int, float, complex, str or bytes subclass's instance, read from its reduce: `cls(value)`
        (an IntEnum member) or `copyreg.__newobj__(cls, value)`; () when the reduce does not say it. A surrogate of
        such a class is that value: an empty one would show the program's 42 as 0."""
        items, refs, type_id = record[5], record[6], record[2]
        builtin = self._surrogate_type(type_id, record[1], surrogate_base.NOT_TRUSTED)[3] if type_id else None
        if builtin not in _IMMUTABLE_VALUES or 0 not in refs or 1 not in refs or type(items[0]) is not int:
            return ()
        if items[0] == type_id:
            skip = 0
        elif self._names(items[0], FUNCTION) in _NEWOBJ:
            skip = 1
        else:
            return ()
        args = self.value(self._complete(items[1]))
        if not isinstance(args, tuple) or len(args) != skip + 1:
            return ()
        value = args[skip]
        return (value,) if type(value) in _IMMUTABLE_VALUES else ()

    def _value_from_repr(self, record: tuple[Any, ...]) -> tuple[Any, ...]:
        """The value of an opaque int/float/complex/str/bytes subclass instance, read back from its captured repr when
        that is a literal of its builtin (ast.literal_eval runs no code); () otherwise."""
        type_id, data = record[2], record[9]
        if not type_id or not isinstance(data, bytes) or not data:
            return ()
        builtin = self._surrogate_type(type_id, record[1], surrogate_base.OPAQUE)[3]
        if builtin not in _IMMUTABLE_VALUES:
            return ()
        try:
            value = ast.literal_eval(data.decode("utf-8", "surrogatepass"))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError, UnicodeDecodeError):
            return ()
        return (value,) if type(value) is builtin else ()

    def _names(self, record_id: int, kind: int) -> tuple[Any, Any]:
        """(module, qualname) of a CLASS or FUNCTION record, without making its object."""
        record = self.records.get(record_id)
        if record is None or record[1] != kind:
            return None, None
        attrs = self._attrs(record[7], [n for n in record[8] if n in ("module", "qualname")
                                        and type(record[7][n]) is int])
        return attrs.get("module"), attrs.get("qualname")

    def _call_reduce(self, function: Any, args: tuple[Any, ...]) -> Any:
        key = (getattr(function, "__module__", None), getattr(function, "__qualname__", None))
        if key in _NEWOBJ:
            cls = args[0] if args else None
            if not isinstance(cls, type) or issubclass(cls, Surrogate) or not self._class_allowed(cls):
                return _MISSING
        elif key == ("copyreg", "_reconstructor"):
            if len(args) < 2 or not all(isinstance(c, type) and self._class_allowed(c) for c in args[:2]):
                return _MISSING
        elif isinstance(function, type) and not self._class_allowed(function):
            return _MISSING
        if any(isinstance(a, Surrogate) and not isinstance(a, _VALUE_BASES) for a in args):
            return _MISSING  # a real object cannot be made from a surrogate part
        if any(isinstance(a, type) and issubclass(a, Surrogate) for a in args):
            # nor of a surrogate class (array._array_reconstructor(cls, ...) of a subclass the load left out)
            return _MISSING
        return function(*args)

    def _class_allowed(self, cls: type) -> bool:
        return self.trusted or _safe_class(cls)

    def _complete_items(self, record: tuple[Any, ...], positions: range) -> list[Any]:
        for position in positions:
            if position in record[6]:
                self._complete(record[5][position])
        return self._values(record[5], record[6])

    def _fill_reduce_surrogate(self, obj: Any, record: tuple[Any, ...]) -> None:
        state_raw = record[5][2] if len(record[5]) > 2 else None
        state_record = self.records.get(state_raw) if 2 in record[6] and type(state_raw) is int else None
        if state_record is not None and state_record[1] == DICT and not state_record[2]:
            # The usual state, a plain dict of attributes, becomes the surrogate's own __dict__: nothing to finish
            # first, so chains of such objects never nest.
            state = self.get(state_raw)
            current = object.__getattribute__(obj, "__dict__")
            if current:
                state.update(current)
            object.__setattr__(obj, "__dict__", state)
        else:
            _set_state_dict(obj, self._reduce_state(record))
        args = self.value(self._complete(record[5][1])) if 1 in record[6] else record[5][1]
        if isinstance(args, tuple) and args and "_reduce_args" not in obj.__dict__:
            obj.__dict__["_reduce_args"] = args

    def _reduce_state(self, record: tuple[Any, ...]) -> dict[str, Any]:
        items = self._complete_items(record, range(2, 3))
        state = items[2] if len(items) > 2 else None
        result: dict[str, Any] = {}
        if isinstance(state, tuple) and len(state) == 2:
            for part in state:
                if isinstance(part, dict):
                    result.update({k: v for k, v in part.items() if isinstance(k, str)})
        elif isinstance(state, dict):
            result.update({k: v for k, v in state.items() if isinstance(k, str)})
        elif state is not None:
            result["_reduce_state"] = state
        return result

    def _apply_reduce_state(self, obj: Any, record: tuple[Any, ...]) -> None:
        items = self._complete_items(record, range(2, 5))
        state, listitems, dictitems = (items + [None, None, None])[2:5]
        if state is not None:
            setstate = getattr(type(obj), "__setstate__", None)
            if setstate is not None:
                setstate(obj, state)
            elif isinstance(state, tuple) and len(state) == 2:
                for part in state:
                    if isinstance(part, dict):
                        for name, value in part.items():
                            object.__setattr__(obj, name, value)
            elif isinstance(state, dict):
                obj.__dict__.update(state)
        if listitems:
            for item in listitems:
                obj.append(item)
        if dictitems:
            for key, value in dictitems:
                obj[key] = value

    def _construct_captured(self, record: tuple[Any, ...]) -> Any:
        name = self._attrs(record[7], [n for n in record[8] if n == "capture"]).get("capture")
        support = support_named(name) if isinstance(name, str) else None
        if (support is not None and support.make is not None and support.fill is not None
                and (support.safe or self.trusted)):
            return self._make_then_fill(record, support)
        if "state" in record[8]:
            self._complete(record[7]["state"])
        attrs = self._attrs(record[7], record[8])
        name = attrs.get("capture")
        state = attrs.get("state")
        support = support_named(name) if isinstance(name, str) else None
        if support is not None and support.rebuild is not None and (support.safe or self.trusted):
            try:
                return support.rebuild(state)
            except MemoryError:
                raise
            except ModuleNotFoundError as error:
                # The library is not installed here: the surrogate shows what the capture holds, and says so.
                reason, why = surrogate_base.REBUILD_FAILED, f"{error.name or 'its library'} is not installed here"
            except Exception as error:  # noqa: BLE001 - one object that fails to rebuild must not fail the load
                self.problems.append(f"object {record[0]}: {type(error).__name__}: {error}")
                reason, why = surrogate_base.REBUILD_FAILED, f"rebuilding failed: {type(error).__name__}: {error}"
        elif support is None:
            why, reason = "no type support", surrogate_base.NOT_IMPORTABLE
        elif support.rebuild is None:
            why, reason = "its type support does not rebuild", surrogate_base.OPAQUE
        else:
            why, reason = "its type support is not safe for untrusted dumps", surrogate_base.NOT_TRUSTED
        facts = state if isinstance(state, dict) else {"state": state}
        obj = self._surrogate_for(record, reason, f"captured by {name}: {why}",
                                  {k: v for k, v in facts.items() if isinstance(k, str)}, facts)
        described = _describe_captured(support, state)
        if described:
            info = surrogate_base.surrogate_info(obj)
            if info is not None:
                attach_info(obj, SurrogateInfo(info.module, info.qualname, info.reason, info.detail, described,
                                               info.facts))
        return obj

    def _make_then_fill(self, record: tuple[Any, ...], support: Any) -> Any:
        """An object whose state may lead back to it: made empty now, filled once its state can be finished (that
        would need the object itself while it is being made)."""
        obj = support.make()

        def fill() -> None:
            if "state" in record[8]:
                self._complete(record[7]["state"])
            support.fill(obj, self._attrs(record[7], [n for n in record[8] if n == "state"]).get("state"))

        # With the hashing fills: a weak dictionary's keys may hash by their state.
        self._defer(record[0], fill, hashing=True)
        return obj

    # ---- shells: created empty, filled later ----

    def _shell(self, record: tuple[Any, ...]) -> Any:
        oid, kind, type_id, flags, size, items, item_refs, attrs, attr_refs, data = record
        if kind in (LIST, DICT, SET, DEQUE):
            obj = self._container_shell(record)
            self._defer(oid, lambda: self._fill_container(obj, record), hashing=kind in (DICT, SET))
            return obj
        if kind == INSTANCE:
            return self._instance_shell(record)
        if kind == FRAME:
            frame = DumpedFrame(DumpedCode("?", "?", "?", 1), 0, -1, {}, {})
            self._defer(oid, lambda: self._fill_frame(frame, record))
            return frame
        if kind == TRACEBACK:
            traceback = DumpedTraceback(DumpedFrame(DumpedCode("?", "?", "?", 1), 0, -1, {}, {}), 0)
            self._defer(oid, lambda: self._fill_traceback(traceback, record))
            return traceback
        if kind == CELL:
            cell = types.CellType()
            if item_refs or items:
                self._defer(oid, lambda: setattr(cell, "cell_contents", self._values(items, item_refs)[0]))
            return cell
        if kind == FUNCTION:
            return self._function(record)
        if kind == MODULE:
            return self._module(record)
        if kind == GENERATOR:
            return self._generator(record)
        # SURROGATE (opaque objects and objects cut by a limit)
        state = _prefixed_state(self._attrs(attrs, [n for n in attr_refs if n.startswith(("dict:", "slot:"))]))
        reason_text = attrs.get("reason")
        if "reason" in attr_refs and type(reason_text) is tuple:
            # the walk had stopped: even the reason string of this cut record was left out
            reason_text = "cut:" + CUT_REASONS.get(reason_text[0], "a limit")
        elif "reason" in attr_refs:
            reason_text = self.value(attrs["reason"])
        reason = surrogate_base.CUT if isinstance(reason_text, str) and reason_text.startswith("cut:") \
            else surrogate_base.OPAQUE
        obj = self._surrogate_for(record, reason, str(reason_text or ""), value_args=self._value_from_repr(record))
        facts_ref = "facts" in attr_refs

        def fill() -> None:
            _set_state_dict(obj, _prefixed_state(self._attrs(attrs, attr_refs)))
            if facts_ref:
                facts = self.value(self._complete(attrs["facts"]))
                info = surrogate_base.surrogate_info(obj)
                if info is not None:
                    attach_info(obj, SurrogateInfo(info.module, info.qualname, info.reason, info.detail, info.repr,
                                                   facts))
                if isinstance(facts, dict):
                    support = support_for_type_name(info.original) if info is not None else None
                    answers = support.answers if support is not None else ()
                    for key, value in facts.items():
                        if isinstance(key, str) and key not in obj.__dict__:
                            obj.__dict__[key] = DumpedAnswer(key, value) if key in answers else value

        if state or facts_ref:
            self._defer(oid, fill)
        return obj

    def _container_shell(self, record: tuple[Any, ...]) -> Any:
        kind, type_id = record[1], record[2]
        base = _CONTAINER_KINDS[kind]
        if not type_id:
            if record[3] & FLAG_TRUNCATED:
                return self._truncated(record, base, (), len(record[5]) // 2 if kind == DICT else len(record[5]))
            if record[3] & FLAG_CUT_ITEMS:
                return cut_container_class(base)()
            return base()
        cls = self._type_object(type_id)
        if not isinstance(cls, type) or not issubclass(cls, base) or not (
            issubclass(cls, Surrogate) or self._class_allowed(cls)
        ):
            cls = surrogate_class(*self._class_name(type_id), base)
        try:
            obj = base.__new__(cls)
        except TypeError:
            # A subclass written in C (SQLAlchemy's immutabledict) refuses its base's __new__: its own C __new__
            # makes it empty (filling goes through the builtin's own methods, never the class's), or, when that wants
            # arguments or gives something else, a surrogate that is a `base` keeps the contents.
            obj = _c_new(cls)
            if obj is None or type(obj) is not cls or len(obj):
                stand_in = surrogate_class(*self._class_name(type_id), base, reason=surrogate_base.REBUILD_FAILED)
                obj = base.__new__(stand_in)
        if isinstance(obj, defaultdict):
            factory = record[7].get("default_factory")
            if "default_factory" in record[8]:
                factory = self.value(factory)
            obj.default_factory = factory if callable(factory) else None
        if isinstance(obj, deque) and record[7].get("maxlen") is not None:
            obj = cls.__new__(cls)
            deque.__init__(obj, (), record[7]["maxlen"])
        return obj

    def _fill_container(self, obj: Any, record: tuple[Any, ...]) -> None:
        kind = record[1]
        values = self._values(record[5], record[6])
        if kind == LIST:
            list.extend(obj, values)
        elif kind == DEQUE:
            deque.extend(obj, values)
        elif kind == SET:
            self._finish_new_fills()
            set.update(obj, values)
        else:
            self._finish_new_fills()
            setitem = OrderedDict.__setitem__ if isinstance(obj, OrderedDict) else dict.__setitem__
            for i in range(0, len(values) - 1, 2):
                setitem(obj, values[i], values[i + 1])
        if record[2]:
            state = _prefixed_state(self._attrs(record[7], record[8]))
            if state:
                _set_state_dict(obj, state)

    def _instance_shell(self, record: tuple[Any, ...]) -> Any:
        oid, _, type_id, _, _, _, _, attrs, attr_refs, _ = record
        cls = self._type_object(type_id) if type_id else None
        unready = self._class_unready(cls) if self.trusted and isinstance(cls, type) else None
        if unready is not None:
            obj = self._surrogate_for(record, surrogate_base.REBUILD_FAILED, unready)
            self._defer(oid, lambda: _set_state_dict(obj, _prefixed_state(self._attrs(attrs, attr_refs))))
            return obj
        if isinstance(cls, type) and not issubclass(cls, Surrogate) and self._class_allowed(cls):
            try:
                obj = object.__new__(cls)
            except TypeError:
                obj = _MISSING
            if obj is not _MISSING:
                self._defer(oid, lambda: _set_instance_state(obj, self._attrs(attrs, attr_refs)))
                return obj
        detail = ""
        if isinstance(cls, type) and not issubclass(cls, Surrogate):
            if self.trusted:  # object.__new__ refused the class: only its own constructor could make one
                why = surrogate_base.REBUILD_FAILED
                detail = f"{cls.__qualname__} cannot be made without calling its constructor"
            else:
                why = surrogate_base.NOT_TRUSTED
        else:
            why = surrogate_info_reason(cls)
            detail = self._main_class_details.get(id(cls), "")
        obj = self._surrogate_for(record, why, detail)
        self._defer(oid, lambda: _set_state_dict(obj, _prefixed_state(self._attrs(attrs, attr_refs))))
        return obj

    def _class_unready(self, cls: type) -> str | None:
        """Why instances of an imported class cannot work when made without its constructor, or None. SQLAlchemy
        sets up a mapped class's attribute descriptors lazily, on the first instance or query; an instance made
        from the dump would fail on every mapped attribute (`impl` None), so its mappers are configured first."""
        key = id(cls)
        if key in self._classes_checked:
            return self._classes_checked[key]
        why = None
        if any("_sa_class_manager" in klass.__dict__ for klass in cls.__mro__):
            orm = sys.modules.get("sqlalchemy.orm")
            configure = getattr(orm, "configure_mappers", None)
            try:
                if configure is None:
                    raise RuntimeError("sqlalchemy.orm is not imported")
                configure()
            except Exception as error:  # noqa: BLE001 - the instance then shows its dumped state instead
                why = f"its SQLAlchemy mapping could not be configured here ({type(error).__name__}: {error})"
        self._classes_checked[key] = why
        return why

    def _fill_frame(self, frame: DumpedFrame, record: tuple[Any, ...]) -> None:
        attrs = self._attrs(record[7], record[8])
        code = attrs.get("code")
        if isinstance(code, DumpedCode):
            frame.f_code = code
        frame.f_lineno = int(attrs.get("lineno") or 0)
        frame.f_lasti = int(attrs.get("lasti") or -1)
        frame.f_locals = attrs.get("locals") if isinstance(attrs.get("locals"), dict) else {}
        frame.f_globals = attrs.get("globals") if isinstance(attrs.get("globals"), dict) else {}
        back = attrs.get("back")
        frame.f_back = back if isinstance(back, DumpedFrame) else None

    def _fill_traceback(self, traceback: DumpedTraceback, record: tuple[Any, ...]) -> None:
        attrs = self._attrs(record[7], record[8])
        if isinstance(attrs.get("frame"), DumpedFrame):
            traceback.tb_frame = attrs["frame"]
        traceback.tb_lineno = int(attrs.get("lineno") or 0)
        traceback.tb_lasti = int(attrs.get("lasti") if isinstance(attrs.get("lasti"), int) else -1)
        following = attrs.get("next")
        traceback.tb_next = following if isinstance(following, DumpedTraceback) else None

    def _function(self, record: tuple[Any, ...]) -> Any:
        oid, _, _, _, _, _, _, attrs, attr_refs, _ = record
        names = self._attrs(attrs, [n for n in attr_refs if n in ("module", "qualname", "name")])
        module, qualname = names.get("module"), names.get("qualname")
        if "function" in attrs:  # a bound method
            values = self._attrs(attrs, attr_refs)
            function, bound = values.get("function"), values.get("self")
            if callable(function) and not isinstance(function, Surrogate):
                return types.MethodType(function, bound)
            obj = object.__new__(SurrogateFunction)
            obj.__dict__.update({"__func__": function, "__self__": bound,
                                 "__name__": getattr(function, "__name__", "?"),
                                 "__qualname__": getattr(function, "__qualname__", "?"),
                                 "__module__": getattr(function, "__module__", "?")})
            # The method stands for its function: say which one, and why that one is a surrogate.
            function_info = surrogate_base.surrogate_info(function)
            attach_info(obj, SurrogateInfo(
                str(obj.__dict__["__module__"]), str(obj.__dict__["__qualname__"]),
                function_info.reason if function_info is not None
                else surrogate_base.NOT_IMPORTABLE if self.trusted else surrogate_base.NOT_TRUSTED,
                f"a method bound to {type(bound).__qualname__}"
                + (f"; {function_info.detail}" if function_info is not None and function_info.detail else "")))
            return obj
        why_not = ""
        if self.trusted and module == "__main__" and "builtin" not in attrs:
            made = self._main_function(record, qualname)
            if not isinstance(made, str):
                return made
            why_not = f"__main__.{qualname} is not rebuilt: {made}"
        elif self.trusted or (module == "builtins" and qualname in SAFE_BUILTIN_FUNCTIONS):
            real = self._lookup(module, qualname)
            if callable(real) and not isinstance(real, type):
                return real
        obj = object.__new__(SurrogateFunction)
        obj.__dict__.update({"__name__": names.get("name"), "__qualname__": qualname, "__module__": module})
        if self.trusted:  # the lookup above failed: a local function, or a module this process does not have
            reason, detail = surrogate_base.NOT_IMPORTABLE, why_not or f"{module}.{qualname} cannot be imported here"
        else:
            reason = surrogate_base.NOT_IMPORTABLE if module == "__main__" else surrogate_base.NOT_TRUSTED
            detail = surrogate_base.SAFE_FUNCTION_DETAIL
        attach_info(obj, SurrogateInfo(str(module), str(qualname), reason, detail))

        def fill() -> None:
            values = self._attrs(attrs, attr_refs)
            obj.__dict__.update({
                "__code__": values.get("code"),
                "__defaults__": values.get("defaults"),
                "__kwdefaults__": values.get("kwdefaults"),
                "__closure__": values.get("closure"),
            })
            if "self" in values:
                obj.__dict__["__self__"] = values["self"]

        self._defer(oid, fill)
        return obj

    def _module(self, record: tuple[Any, ...]) -> Any:
        attrs = self._attrs(record[7], record[8])
        name = attrs.get("name")
        if isinstance(name, str):
            if self.trusted:
                module = self._import(name)
                if module is not None:
                    return module
            elif name in sys.stdlib_module_names and name in sys.modules:
                return sys.modules[name]
        module = object.__new__(SurrogateModule)
        module.__dict__.update({"__name__": name, "__file__": attrs.get("file")})
        return module

    def _generator(self, record: tuple[Any, ...]) -> Any:
        oid, _, _, _, _, _, _, attrs, attr_refs, _ = record
        kind = attrs.get("kind") if "kind" not in attr_refs else self.value(attrs["kind"])
        kind = kind if isinstance(kind, str) else "generator"
        prefix = {"generator": "gi", "coroutine": "cr", "async_generator": "ag"}.get(kind, "gi")
        obj = object.__new__(surrogate_class("builtins", kind, reason=surrogate_base.OPAQUE))

        def fill() -> None:
            values = self._attrs(attrs, attr_refs)
            obj.__dict__.update({
                "__name__": values.get("name"),
                "__qualname__": values.get("qualname"),
                f"{prefix}_code": values.get("code"),
                f"{prefix}_frame": values.get("frame"),
                f"{prefix}_running": values.get("running"),
                f"{prefix}_suspended": values.get("suspended"),
                "gi_yieldfrom" if prefix == "gi" else f"{prefix}_await": values.get("await"),
            })

        self._defer(oid, fill)
        return obj


class _RecordView:
    """Record id -> the record's tuple (native/record_decoder.h), decoded from the core on first use."""

    def __init__(self, core: Any) -> None:
        self._core = core
        self._decoded: dict[int, Any] = {}

    def get(self, oid: Any, default: Any = None) -> Any:
        record = self._decoded.get(oid, _MISSING)
        if record is _MISSING:
            record = None
            if type(oid) is int and 0 <= oid < 1 << 64:
                try:
                    record = self._core.record(oid)
                except ValueError:  # a record that does not decode: as if it were not in the file
                    record = None
            self._decoded[oid] = record
        return default if record is None else record


_KIND_NAMES = {FRAME: "frame", TRACEBACK: "traceback", CELL: "cell", MODULE: "module", CODE: "code"}


def _attribute_path(module: types.ModuleType | None, qualname: str) -> Any:
    obj: Any = module
    if module is None:
        return _MISSING
    for part in qualname.split("."):
        obj = getattr(obj, part, _MISSING)
        if obj is _MISSING:
            return _MISSING
    return obj


def _safe_class(cls: type) -> bool:
    """Whether a safe load may instantiate cls: its construction runs only standard-library code of a value type."""
    module = getattr(cls, "__module__", "") or ""
    if module == "builtins":
        return cls in SAFE_BUILTIN_CLASSES or issubclass(cls, BaseException)
    top = module.partition(".")[0]
    if top in SAFE_MODULES or top.lstrip("_") in SAFE_MODULES:
        return True
    if (module, getattr(cls, "__qualname__", "")) in SAFE_CLASSES:
        return True
    return isinstance(cls, enum.EnumMeta) and (top in SAFE_IMPORTS or top.lstrip("_") in SAFE_IMPORTS)


def _one_line(error: BaseException, limit: int = 300) -> str:
    """An error as one short line of a load's problems: some messages (a binding's list of the signatures that did
    not match) run over many lines, and the warning lists every problem."""
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - the message of an exception the program's code raised is its code too
        message = ""
    first = message.strip().splitlines()[0] if message.strip() else ""
    text = f"{type(error).__name__}: {first}" if first else type(error).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _c_new(cls: type) -> Any:
    """An empty cls made by the __new__ its instances get, when that is written in C (a builtin, no code of the
    program) and takes no arguments; else None."""
    new = next((klass.__dict__["__new__"] for klass in cls.__mro__ if "__new__" in klass.__dict__), None)
    if type(new) is not types.BuiltinFunctionType:
        return None
    try:
        return new(cls)
    except Exception:  # noqa: BLE001 - a __new__ that wants arguments: the caller makes a surrogate
        return None


def _listed(value: Any) -> list[Any] | tuple[Any, ...]:
    """A list the root record holds, or nothing when damage left something else there (a lost object, a str)."""
    return value if isinstance(value, (list, tuple)) else ()


def _describe_captured(support: Any, state: Any) -> str | None:
    """The repr a type support gives the surrogate of an object it captured (None: the default repr)."""
    describe = getattr(support, "describe", None)
    if describe is None:
        return None
    try:
        text = describe(state)
    except Exception:  # noqa: BLE001 - a damaged state shows the default repr
        return None
    return text if isinstance(text, str) else None


def surrogate_info_reason(cls: Any) -> str:
    if isinstance(cls, type):
        return getattr(cls, "__pyheapdump_reason__", surrogate_base.NOT_TRUSTED)
    return surrogate_base.NOT_IMPORTABLE


def _builtin_base(cls: Any) -> type | None:
    """The builtin whose behaviour a (surrogate) class keeps: the first value type or exception in its MRO."""
    if not isinstance(cls, type):
        return None
    for klass in cls.__mro__:
        if klass in _VALUE_BASES:
            return klass
        if klass.__module__ == "builtins" and issubclass(klass, BaseException):
            return klass
    return None


def _prefixed_state(attrs: dict[str, Any]) -> dict[str, Any]:
    """The instance state among a record's attributes: `dict:NAME` and `slot:NAME` entries, by NAME."""
    return {name[5:]: value for name, value in attrs.items() if name.startswith(("dict:", "slot:"))}


def _set_state_dict(obj: Any, state: dict[str, Any]) -> None:
    """Puts dumped state straight into the instance dict: no __setattr__ or property of the class runs."""
    try:
        target = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        return
    target.update(state)


def _set_instance_state(obj: Any, attrs: dict[str, Any]) -> None:
    cls = type(obj)
    for name, value in attrs.items():
        if name.startswith("dict:"):
            object.__getattribute__(obj, "__dict__")[name[5:]] = value
        elif name.startswith("slot:"):
            descriptor = _find_slot(cls, name[5:])
            if descriptor is not None:
                descriptor.__set__(obj, value)


def _find_slot(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        descriptor = klass.__dict__.get(name)
        if descriptor is not None and type(descriptor).__name__ == "member_descriptor":
            return descriptor
    return None


def _set_class_attributes(cls: type, attributes: dict[str, Any]) -> None:
    for name, value in attributes.items():
        if name in cls.__dict__:
            continue
        try:
            setattr(cls, name, value)
        except (AttributeError, TypeError):
            pass
    fields = cls.__dict__.get("_fields")
    if issubclass(cls, tuple) and isinstance(fields, tuple):
        # A namedtuple's field accessors are C `_tuplegetter`s, which come back as surrogates: replace them.
        for index, field in enumerate(fields):
            if isinstance(field, str) and isinstance(cls.__dict__.get(field, Surrogate), (Surrogate, type)):
                setattr(cls, field, property(lambda self, i=index: tuple.__getitem__(self, i)))
        if issubclass(cls, Surrogate):
            for name, method in namedtuple_methods.items():
                setattr(cls, name, method)
