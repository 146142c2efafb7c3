"""The rebuilder's state and the parts every kind needs: getting objects by id, the values of a record, the
placeholders of lost and cut objects, surrogates, and finding classes and functions by name."""

from __future__ import annotations

import builtins
import sys
import types

from pyheapdump.errors import DumpFormatError
from pyheapdump.load.allowlists import _NEWOBJ, SAFE_CALLABLES, SAFE_IMPORTS, _safe_class
from pyheapdump.load.objects import (
    _attribute_path,
    _builtin_base,
    _datetime_family,
    _listed,
    _one_line,
    _set_state_dict,
)
from pyheapdump.load.records import (
    _CONTAINER_KINDS,
    _KIND_NAMES,
    _MISSING,
    BYTEARRAY,
    BYTES,
    CLASS,
    CUT_REASONS,
    FLAG_CUT_ITEMS,
    FUNCTION,
    STR,
    Record,
    RecordView,
)
from pyheapdump.model import DumpedCode, DumpedFrame, DumpedThread, DumpedTraceback, HeapDump
from pyheapdump.surrogates import base as surrogate_base
from pyheapdump.surrogates.base import (
    Surrogate,
    SurrogateInfo,
    attach_info,
    surrogate_class,
)
from pyheapdump.surrogates.not_dumped import cut_container_class as container_class_with_cuts
from pyheapdump.surrogates.not_dumped import not_dumped_class, truncated_with_placeholders
from pyheapdump.surrogates.truncated import truncated

# No typing or importlib at run time, and the __main__ rebuilder (ast) only for a trusted load that meets a __main__
# class or function: the load benchmark and every debugger session pay for what the loader imports.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyheapdump.load.main_rebuild import MainRebuilder


class RebuilderCore:
    """The state of one load and what every kind of record needs (see Rebuilder, which completes it)."""

    # The native core (made by Rebuilder, the handler it calls) and its records, decoded on first use.
    core: Any
    records: RecordView

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
        return self.get(type_id) if record is not None and record.kind == CLASS else None

    def plain_surrogate_class(self, type_id: int) -> type | None:
        """For the core: the surrogate class whose instances need nothing but their state, or None for the general
        path (asked once per class)."""
        candidate = self._type_object(type_id)
        plain = isinstance(candidate, type) and issubclass(candidate, Surrogate) and _builtin_base(candidate) is None
        # A __main__ class a trusted load could not rebuild: its instances say why, one by one (the general path).
        return candidate if plain and id(candidate) not in self._main_class_details else None

    def fast_reduce_callable(self, callable_id: int) -> Any:
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

    def resolve(self, obj: Any) -> Any:
        """Finishes every pending fill, so obj and everything reachable from it is complete."""
        self.core.drain(hashing=True)
        return obj

    # ---- the one reader of a record's items and attrs ----
    # At a position listed in item_refs, and under a name listed in attr_refs, a record holds a reference: a record id
    # (an int) or a cut (a tuple (reason, class id)) for a value a limit left out. Everything else is the value itself.

    def value(self, raw: Any) -> Any:
        """A value read from a record: an int at a reference position is a record id, a tuple is a cut."""
        if type(raw) is tuple:
            return self.cut(*raw)
        return self.get(raw)

    def _values(self, items: list[Any], refs: list[int]) -> list[Any]:
        """A record's items with every reference resolved."""
        items = list(items)
        for position in refs:
            items[position] = self.value(items[position])
        return items

    def _attrs(self, attrs: dict[str, Any], refs: list[str]) -> dict[str, Any]:
        """A record's attrs with the references named in refs (all of attr_refs, or some of them) resolved."""
        attrs = dict(attrs)
        for name in refs:
            attrs[name] = self.value(attrs[name])
        return attrs

    def _item(self, record: Record, position: int, *, complete: bool = False) -> Any:
        """One item of a record, resolved when it is a reference (finished first with `complete`)."""
        raw = record.items[position]
        if position not in record.item_refs:
            return raw
        return self.value(self._complete(raw) if complete else raw)

    def _attr(self, record: Record, name: str, *, complete: bool = False) -> Any:
        """One attr of a record (None when absent), resolved when it is a reference (finished first with
        `complete`)."""
        if name not in record.attr_refs:
            return record.attrs.get(name)
        raw = record.attrs[name]
        return self.value(self._complete(raw) if complete else raw)

    def _guarded(self, record: Record, make: Any) -> Any:
        try:
            return make(record)
        except MemoryError:
            raise  # the whole load fails: going on without memory would present a half-made heap
        except Exception as error:  # noqa: BLE001 - one object that fails to rebuild must not fail the load
            text = _one_line(error)
            self.problems.append(f"object {record.id}: {text}")
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

    def made_of_itself(self, oid: int) -> Any:
        """Stands in for an object that its own making needs (its type, or its type's type, is itself): only a damaged
        or forged record does that, and following it would recurse without end."""
        self.problems.append(f"object {oid}: its record needs itself to be made (a damaged type reference)")
        return self.lost(oid, "its record needs itself to be made (a damaged type reference)")

    def lost(self, oid: int, why: str | None = None) -> Any:
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

    def cut(self, reason: int, class_id: int) -> Any:
        return self.cut_class(reason, class_id)()

    def cut_class(self, reason: int, class_id: int) -> type:
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
    def cut_container_class(kind: int) -> type:
        """For the core: the class of a plain container whose record holds values a limit left out."""
        return container_class_with_cuts(_CONTAINER_KINDS[kind])

    @staticmethod
    def _truncated(record: Record, builtin: type, kept: Any, kept_count: int) -> Any:
        """A str, bytes or container that max_str or max_items cut: what was kept, marked as cut."""
        limit = "max_str" if record.kind in (STR, BYTES, BYTEARRAY) else "max_items"
        make = truncated_with_placeholders if record.flags & FLAG_CUT_ITEMS else truncated
        return make(builtin, kept, kept_count, record.attrs.get("original_length"), limit)

    def _class_name(self, class_id: int) -> tuple[str, str]:
        module, qualname = self._names(class_id, CLASS)
        if module is _MISSING:
            return "builtins", "object"
        return (module if isinstance(module, str) else "?", qualname if isinstance(qualname, str) else "?")

    def _names(self, record_id: int, kind: int) -> tuple[Any, Any]:
        """(module, qualname) of a CLASS or FUNCTION record, without making its object; (_MISSING, _MISSING) when
        record_id is not a record of that kind."""
        record = self.records.get(record_id)
        if record is None or record.kind != kind:
            return _MISSING, _MISSING
        # Only names stored as records: a name cut by a limit would ask for this very class's name again.
        attrs = self._attrs(record.attrs, [n for n in record.attr_refs if n in ("module", "qualname")
                                           and type(record.attrs[n]) is int])
        return attrs.get("module"), attrs.get("qualname")

    def _surrogate_for(self, record: Record, reason: str, detail: str = "",
                       state: dict[str, Any] | None = None, facts: Any = None,
                       value_args: tuple[Any, ...] = ()) -> Any:
        module, qualname, cls, builtin = self._surrogate_type(record.type_id, record.kind, reason)
        if builtin is not None and _datetime_family(builtin):
            datetime_args = self._datetime_value_args(record, builtin, value_args)
            if datetime_args is None:
                # Never a date or timedelta of another value (timedelta() is 0): a surrogate without the builtin,
                # which says that the dump did not hold it.
                cls, builtin = surrogate_class(module, qualname, reason=reason), None
            else:
                value_args = datetime_args
        if builtin is not None:
            obj = builtin.__new__(cls, *value_args)
        else:
            obj = object.__new__(cls)
        if state:
            _set_state_dict(obj, state)
        data = record.data
        captured_repr = data.decode("utf-8", "replace") if isinstance(data, bytes) and data else None
        # The class already says the common case; only what is particular to this object is kept beside it.
        if captured_repr or detail or facts is not None or reason != getattr(cls, "__pyheapdump_reason__", None):
            attach_info(obj, SurrogateInfo(module, qualname, reason, detail, captured_repr, facts))
        return obj

    def _datetime_value_args(self, record: Record, builtin: type, reduce_args: tuple[Any, ...]) -> Any:
        """The arguments that make a surrogate of a date, datetime, time or timedelta subclass hold the dumped value:
        those of the record's `value` (the value as an exact builtin, which the dump writes when the class's own
        reduce does not give it), or the reduce's own when the builtin takes them (pickle's form); None otherwise."""
        value = self._attr(record, "value", complete=True) if "value" in record.attrs else None
        if type(value) is builtin:
            return value.__reduce__()[1]  # the builtin's own C reduce: pickle's arguments for its value
        if not reduce_args:
            return None
        try:
            builtin(*reduce_args)  # its C constructor checks them, and makes nothing of the program's
        except (TypeError, ValueError, OverflowError):
            return None
        return reduce_args

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
        # A real class whose object is a surrogate (its reduce is its own code): of datetime's, the surrogate holds
        # the value (or, without one, is made without that base: _surrogate_for).
        base = _builtin_base(cls)
        return surrogate_class(module, qualname, base if base is not None and _datetime_family(base) else None)

    def _import(self, module_name: str) -> types.ModuleType | None:
        if module_name == "__main__":
            return self._dumped_main() if self.trusted else None
        if not self.trusted and module_name.partition(".")[0] not in SAFE_IMPORTS:
            return None
        try:
            __import__(module_name)
            return sys.modules[module_name]
        except Exception:  # noqa: BLE001 - a module that is missing or fails to import: its objects become surrogates
            return None

    def _dumped_main(self) -> types.ModuleType | None:
        """A stand-in module for the dumped program's __main__: never the script itself, whose import would run its
        top level again (a script without a main guard redoes its whole job). It holds what the load rebuilt."""
        return self._main_rebuilder().module

    def _main_rebuilder(self) -> MainRebuilder:
        if self._main is None:
            from pyheapdump.load.main_rebuild import MainRebuilder

            try:
                sources = {k: v for k, v in self._reader.sources() if isinstance(k, str) and isinstance(v, str)}
            except (ValueError, UnicodeDecodeError, DumpFormatError):
                sources = {}
            self._main = MainRebuilder(sources, self.metadata)
        return self._main

    def _main_class(self, record: Record, qualname: Any) -> Any:
        """A trusted load's real class for __main__.qualname, made from its dumped attributes and its source; or
        why not (a str)."""
        if not isinstance(qualname, str):
            return "its dumped name is damaged"
        bases = self._values(record.items, record.item_refs)
        slots = self._attr(record, "dict:__slots__", complete=True)
        cls = self._main_rebuilder().class_shell(qualname, bases, slots)
        if isinstance(cls, type):
            def fill() -> None:
                values = self._attrs(record.attrs, [n for n in record.attr_refs if n.startswith("dict:")])
                attributes = {n[5:]: v for n, v in values.items() if n.startswith("dict:")}
                self._main_rebuilder().fill_class(cls, attributes, self.problems)

            self._defer(record.id, fill)
        return cls

    def _main_function(self, record: Record, qualname: Any) -> Any:
        """A trusted load's real function of __main__, made from the code its dumped source compiles to, with its
        dumped closure (now) and defaults (when filled); or why not (a str)."""
        oid, attrs, attr_refs = record.id, record.attrs, record.attr_refs
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
            from pyheapdump.load.main_rebuild import set_defaults

            values = self._attrs(attrs, [n for n in attr_refs if n in ("defaults", "kwdefaults")])
            set_defaults(function, values.get("defaults"), values.get("kwdefaults"))

        self._defer(oid, fill)
        return function

    def _resolve_callable(self, callable_id: Any) -> Any:
        """The real callable a reduce names, when this load may call it; _MISSING otherwise."""
        if type(callable_id) is not int:
            return _MISSING
        record = self.records.get(callable_id)
        if record is None:
            return _MISSING
        if record.kind == CLASS:
            cls = self.get(callable_id)
            return cls if isinstance(cls, type) and not issubclass(cls, Surrogate) else _MISSING
        if record.kind != FUNCTION:
            return _MISSING
        attrs = self._attrs(record.attrs, [n for n in record.attr_refs if n in ("module", "qualname")])
        module, qualname = attrs.get("module"), attrs.get("qualname")
        if not self.trusted and (module, qualname) not in SAFE_CALLABLES:
            return _MISSING
        if module == "__main__":  # rebuilt from the dump, never looked up in the script
            found = self.get(callable_id)
            return found if callable(found) and not isinstance(found, Surrogate) else _MISSING
        found = self._lookup(module, qualname)
        return found if callable(found) else _MISSING

    def _class_allowed(self, cls: type) -> bool:
        return self.trusted or _safe_class(cls)

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

