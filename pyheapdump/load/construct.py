"""Construction of the objects that are made whole at once (immutable and by-value kinds)."""

from __future__ import annotations

from pyheapdump.load.allowlists import (
    _IMMUTABLE_VALUES,
    _NEWOBJ,
    _VALUE_BASES,
)
from pyheapdump.load.core import RebuilderCore
from pyheapdump.load.objects import (
    _builtin_base,
    _datetime_family,
    _describe_captured,
    _prefixed_state,
    _set_class_attributes,
    _set_state_dict,
)
from pyheapdump.load.records import (
    _MISSING,
    BIGINT,
    BYTEARRAY,
    BYTES,
    CALL,
    CAPTURED,
    CLASS,
    CODE,
    COMPLEX,
    DICT,
    EXCEPTION,
    FLAG_CUT_ITEMS,
    FLAG_TRUNCATED,
    FROZENSET,
    FUNCTION,
    RANGE,
    REDUCE,
    SLICE,
    STR,
    TUPLE,
    Record,
)
from pyheapdump.model import DumpedCode, DumpedTraceback
from pyheapdump.surrogates import base as surrogate_base
from pyheapdump.surrogates.base import (
    Surrogate,
    SurrogateInfo,
    attach_info,
    surrogate_class,
)
from pyheapdump.surrogates.not_dumped import cut_container_class as container_class_with_cuts
from pyheapdump.surrogates.zones import datetime_in_a_missing_zone
from pyheapdump.typesupport import support_named

# No typing at run time, and ast only for the captured repr that needs it: the load benchmark and every debugger
# session pay for what the loader imports.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Construction(RebuilderCore):
    """Immutable and by-value objects, made whole once their parts exist: classes, tuples, code, exceptions,
    reduces and captured objects."""

    def _construct_class(self, record: Record) -> Any:
        attrs = self._attrs(record.attrs, [n for n in record.attr_refs if not n.startswith("dict:")])
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
        bases = [b for b in self._values(record.items, record.item_refs) if isinstance(b, type)]
        builtin = next((b for b in (_builtin_base(base) for base in bases) if b is not None), None)
        # A safe load leaves an importable class out by choice; past the lookup above, a trusted load could not
        # import it, so it is missing here whatever the dumping process saw.
        left_out_by_choice = attrs.get("importable") and not self.trusted
        reason = surrogate_base.NOT_TRUSTED if left_out_by_choice else surrogate_base.NOT_IMPORTABLE
        cls = surrogate_class(str(module), str(qualname), builtin, reason=reason)
        if why_not:
            self._main_class_details[id(cls)] = why_not

        def fill() -> None:
            values = self._attrs(record.attrs, [n for n in record.attr_refs if n.startswith("dict:")])
            _set_class_attributes(cls, {n[5:]: v for n, v in values.items() if n.startswith("dict:")})

        self._defer(record.id, fill)
        return cls

    # ---- construction of immutable and by-value objects ----

    def _construct(self, record: Record) -> Any:
        _oid, kind, type_id, flags, _size = record.id, record.kind, record.type_id, record.flags, record.size
        items, item_refs, attrs, attr_refs = record.items, record.item_refs, record.attrs, record.attr_refs
        data = record.data
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
                return container_class_with_cuts(frozenset)(values)
            return frozenset(values)
        if kind == RANGE:
            bounds = self._attrs(attrs, attr_refs)
            return range(bounds["start"], bounds["stop"], bounds["step"])
        if kind == SLICE:
            return slice(*self._values(items, item_refs))
        if kind == CLASS:
            return self._construct_class(record)
        if kind == CODE:
            return self._construct_code(record)
        if kind == EXCEPTION:
            return self._construct_exception(record)
        if kind == REDUCE or kind == CALL:
            return self._construct_reduce(record)
        if kind == CAPTURED:
            return self._construct_captured(record)
        return self._surrogate_for(record, surrogate_base.UNKNOWN_KIND, f"record kind {kind}")

    def _construct_tuple(self, record: Record) -> Any:
        values = self._values(record.items, record.item_refs)
        if record.type_id:
            return self._container_subclass(record, tuple, values)
        if record.flags & FLAG_TRUNCATED:
            return self._truncated(record, tuple, values, len(values))
        if record.flags & FLAG_CUT_ITEMS:
            return container_class_with_cuts(tuple)(values)
        return tuple(values)

    def _container_subclass(self, record: Record, base: type, values: list[Any]) -> Any:
        cls = self._type_object(record.type_id)
        if not isinstance(cls, type) or not issubclass(cls, base):
            cls = surrogate_class(*self._class_name(record.type_id), base)
        obj = base.__new__(cls, values)
        state = _prefixed_state(self._attrs(record.attrs, record.attr_refs))
        if state:
            self._defer(record.id, lambda: _set_state_dict(obj, state))
        return obj

    def _construct_code(self, record: Record) -> DumpedCode:
        attrs = self._attrs(record.attrs, record.attr_refs)
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

    def _construct_exception(self, record: Record) -> BaseException:
        oid, type_id = record.id, record.type_id
        items, item_refs = record.items, record.item_refs
        cls = self._exception_class(type_id)
        args = self._values(items, item_refs)
        if issubclass(cls, BaseExceptionGroup):
            members = self._attr(record, "exceptions")
            # __new__ of the builtin only: a subclass's own __init__/__new__ is the program's code.
            exc = BaseExceptionGroup.__new__(cls, args[0] if args else "", list(members or ()))
        else:
            # The nearest builtin's __new__: OSError's parses errno/strerror/filename from the args, and refuses
            # to be skipped (BaseException.__new__(FileNotFoundError) raises TypeError).
            builtin: Any = _builtin_base(cls) or BaseException
            exc = builtin.__new__(cls, *args)
        exc.args = tuple(args)
        self._defer(oid, lambda: self._fill_exception(exc, record))
        return exc

    def _fill_exception(self, exc: BaseException, record: Record) -> None:
        attrs = self._attrs(record.attrs, record.attr_refs)
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

    def _construct_reduce(self, record: Record) -> Any:
        oid, _type_id, items, item_refs = record.id, record.type_id, record.items, record.item_refs
        function = self._resolve_callable(items[0] if 0 in item_refs else None)
        obj = _MISSING
        if function is not _MISSING:
            args = self._reduce_args(record)
            obj = self._call_reduce(function, args if isinstance(args, tuple) else ())
            if obj is _MISSING:  # a datetime whose zone is not available here: its wall time and offset at dump time
                attrs = self._attrs(record.attrs, record.attr_refs)
                obj = datetime_in_a_missing_zone(function, args, attrs) or _MISSING
        if obj is _MISSING:
            # A surrogate needs nothing finished to exist; its state is read when it is filled, so a long chain of
            # such objects is filled one after the other, not nested.
            obj = self._surrogate_for(record, surrogate_base.NOT_TRUSTED if not self.trusted
                                      else surrogate_base.NOT_IMPORTABLE, "its class could not be rebuilt",
                                      value_args=self._value_args(record))
            self._defer(oid, lambda: self._fill_reduce_surrogate(obj, record))
            return obj
        if record.kind == REDUCE:  # a CALL has no state or items to apply
            self._defer(oid, lambda: self._apply_reduce_state(obj, record))
        return obj

    def _reduce_args(self, record: Record) -> Any:
        """The arguments of a reduce's call, finished: a REDUCE's args item (a tuple, unless the file is damaged), or
        a CALL's arguments, its items after the callable."""
        if record.kind == CALL:
            return tuple(self._complete_items(record, range(1, len(record.items)))[1:])
        return self._item(record, 1, complete=True)

    def _value_args(self, record: Record) -> tuple[Any, ...]:
        """The value of an int, float, complex, str or bytes subclass's instance, read from its reduce: `cls(value)`
        (an IntEnum member) or `copyreg.__newobj__(cls, value)`; () when the reduce does not say it. A surrogate of
        such a class is that value: an empty one would show the program's 42 as 0."""
        items, refs, type_id = record.items, record.item_refs, record.type_id
        builtin = self._surrogate_type(type_id, record.kind, surrogate_base.NOT_TRUSTED)[3] if type_id else None
        if 0 not in refs or type(items[0]) is not int:
            return ()
        if builtin is not None and _datetime_family(builtin):
            # `cls(state[, zone])`, pickle's form of a date, datetime, time or timedelta: checked when it is used
            args = self._reduce_args(record) if items[0] == type_id else None
            return args if isinstance(args, tuple) else ()
        if builtin not in _IMMUTABLE_VALUES:
            return ()
        if record.kind == REDUCE and 1 not in refs:
            return ()
        if items[0] == type_id:
            skip = 0
        elif self._names(items[0], FUNCTION) in _NEWOBJ:
            skip = 1
        else:
            return ()
        args = self._reduce_args(record)
        if not isinstance(args, tuple) or len(args) != skip + 1:
            return ()
        value = args[skip]
        return (value,) if type(value) in _IMMUTABLE_VALUES else ()

    def _value_from_repr(self, record: Record) -> tuple[Any, ...]:
        """The value of an opaque int/float/complex/str/bytes subclass instance, read back from its captured repr when
        that is a literal of its builtin (ast.literal_eval runs no code); () otherwise."""
        type_id, data = record.type_id, record.data
        if not type_id or not isinstance(data, bytes) or not data:
            return ()
        builtin = self._surrogate_type(type_id, record.kind, surrogate_base.OPAQUE)[3]
        if builtin not in _IMMUTABLE_VALUES:
            return ()
        import ast

        try:
            value = ast.literal_eval(data.decode("utf-8", "surrogatepass"))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError, UnicodeDecodeError):
            return ()
        return (value,) if type(value) is builtin else ()

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

    def _complete_items(self, record: Record, positions: range) -> list[Any]:
        for position in positions:
            if position in record.item_refs:
                self._complete(record.items[position])
        return self._values(record.items, record.item_refs)

    def _fill_reduce_surrogate(self, obj: Any, record: Record) -> None:
        if record.kind == CALL:
            self._keep_reduce_args(obj, self._reduce_args(record))
            return
        state_raw = record.items[2] if len(record.items) > 2 else None
        state_record = self.records.get(state_raw) if 2 in record.item_refs and type(state_raw) is int else None
        if state_record is not None and state_record.kind == DICT and not state_record.type_id:
            # The usual state, a plain dict of attributes, becomes the surrogate's own __dict__: nothing to finish
            # first, so chains of such objects never nest.
            state = self.get(state_raw)  # type: ignore[arg-type]  # an int: state_record was found by it
            current = object.__getattribute__(obj, "__dict__")
            if current:
                state.update(current)
            object.__setattr__(obj, "__dict__", state)
        else:
            _set_state_dict(obj, self._reduce_state(record))
        self._keep_reduce_args(obj, self._item(record, 1, complete=True))

    @staticmethod
    def _keep_reduce_args(obj: Any, args: Any) -> None:
        """A surrogate of a reduce shows the arguments its class would have been called with."""
        if isinstance(args, tuple) and args and "_reduce_args" not in obj.__dict__:
            obj.__dict__["_reduce_args"] = args

    def _reduce_state(self, record: Record) -> dict[str, Any]:
        # The surrogate keeps the state's parts as they are: only the state's own containers must be filled to read
        # them, not what they hold. Finishing everything reachable here nested once per surrogate along a chain of
        # them, and past the core's nesting cap a captured object further on was rebuilt from an unfilled state.
        if 2 in record.item_refs:
            self.core.fill_now(record.items[2])
        items = self._values(record.items, record.item_refs)
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

    def _apply_reduce_state(self, obj: Any, record: Record) -> None:
        setstate = getattr(type(obj), "__setstate__", None)
        if setstate is None and 2 in record.item_refs:
            # Set as they are, into the instance dict and the slots: the state's own containers must be filled, not
            # what they hold (as for a surrogate, _reduce_state: a chain of such objects must not nest).
            self.core.fill_now(record.items[2])
            items = self._complete_items(record, range(3, 5))
        else:
            items = self._complete_items(record, range(2, 5))
        state, listitems, dictitems = (items + [None, None, None])[2:5]
        if state is not None:
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

    def _construct_captured(self, record: Record) -> Any:
        name = self._attrs(record.attrs, [n for n in record.attr_refs if n == "capture"]).get("capture")
        support = support_named(name) if isinstance(name, str) else None
        if (support is not None and support.make is not None and support.fill is not None
                and (support.safe or self.trusted)):
            return self._make_then_fill(record, support)
        if "state" in record.attr_refs:
            self._complete(record.attrs["state"])
        attrs = self._attrs(record.attrs, record.attr_refs)
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
                self.problems.append(f"object {record.id}: {type(error).__name__}: {error}")
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

    def _make_then_fill(self, record: Record, support: Any) -> Any:
        """An object whose state may lead back to it: made empty now, filled once its state can be finished (that
        would need the object itself while it is being made)."""
        obj = support.make()

        def fill() -> None:
            if "state" in record.attr_refs:
                self._complete(record.attrs["state"])
            support.fill(obj, self._attrs(record.attrs, [n for n in record.attr_refs if n == "state"]).get("state"))

        # With the hashing fills: a weak dictionary's keys may hash by their state.
        self._defer(record.id, fill, hashing=True)
        return obj
