"""Assembly of the objects made empty first and filled later: containers, instances, frames, tracebacks,
functions, modules and generators."""

from __future__ import annotations

import sys
import types
from collections import OrderedDict, defaultdict, deque

from pyheapdump.load.allowlists import (
    SAFE_BUILTIN_FUNCTIONS,
)
from pyheapdump.load.construct import Construction
from pyheapdump.load.objects import (
    _c_new,
    _prefixed_state,
    _set_instance_state,
    _set_state_dict,
    surrogate_info_reason,
)
from pyheapdump.load.records import (
    _CONTAINER_KINDS,
    _MISSING,
    CELL,
    CUT_REASONS,
    DEQUE,
    DICT,
    FLAG_CUT_ITEMS,
    FLAG_TRUNCATED,
    FRAME,
    FUNCTION,
    GENERATOR,
    INSTANCE,
    LIST,
    MODULE,
    SET,
    TRACEBACK,
    Record,
)
from pyheapdump.model import DumpedCode, DumpedFrame, DumpedTraceback
from pyheapdump.surrogates import base as surrogate_base
from pyheapdump.surrogates.base import (
    Surrogate,
    SurrogateFunction,
    SurrogateInfo,
    SurrogateModule,
    attach_info,
    surrogate_class,
)
from pyheapdump.surrogates.not_dumped import cut_container_class as container_class_with_cuts
from pyheapdump.typesupport import DumpedAnswer, support_for_type_name

# No typing at run time: the load benchmark and every debugger session pay for what the loader imports.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Assembly(Construction):
    """Mutable objects: created empty (a shell) so cycles can point at them, and filled once what they hold exists."""

    # ---- shells: created empty, filled later ----

    def _shell(self, record: Record) -> Any:
        oid, kind, _type_id, _flags, _size = record.id, record.kind, record.type_id, record.flags, record.size
        items, item_refs, attrs, attr_refs = record.items, record.item_refs, record.attrs, record.attr_refs
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

    def _container_shell(self, record: Record) -> Any:
        kind, type_id = record.kind, record.type_id
        base: Any = _CONTAINER_KINDS[kind]
        if not type_id:
            if record.flags & FLAG_TRUNCATED:
                return self._truncated(record, base, (), len(record.items) // 2 if kind == DICT else len(record.items))
            if record.flags & FLAG_CUT_ITEMS:
                return container_class_with_cuts(base)()
            return base()
        cls = self._type_object(type_id)
        if not isinstance(cls, type) or not issubclass(cls, base) or not (
            issubclass(cls, Surrogate) or self._class_allowed(cls)
        ):
            cls = surrogate_class(*self._class_name(type_id), base)
        obj: Any
        try:
            obj = base.__new__(cls)
        except TypeError:
            # A subclass written in C (SQLAlchemy's immutabledict) refuses its base's __new__: its own C __new__
            # makes it empty (filling goes through the builtin's own methods, never the class's), or, when that wants
            # arguments or gives something else, a surrogate that is a `base` keeps the contents.
            obj = _c_new(cls)
            if obj is None or type(obj) is not cls or len(obj):  # type: ignore[arg-type]  # a `base`
                stand_in = surrogate_class(*self._class_name(type_id), base, reason=surrogate_base.REBUILD_FAILED)
                obj = base.__new__(stand_in)
        if isinstance(obj, defaultdict):
            factory = self._attr(record, "default_factory")
            obj.default_factory = factory if callable(factory) else None
        if isinstance(obj, deque) and record.attrs.get("maxlen") is not None:
            obj = cls.__new__(cls)
            deque.__init__(obj, (), record.attrs["maxlen"])
        return obj

    def _fill_container(self, obj: Any, record: Record) -> None:
        kind = record.kind
        values = self._values(record.items, record.item_refs)
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
        if record.type_id:
            state = _prefixed_state(self._attrs(record.attrs, record.attr_refs))
            if state:
                _set_state_dict(obj, state)

    def _instance_shell(self, record: Record) -> Any:
        oid, type_id, attrs, attr_refs = record.id, record.type_id, record.attrs, record.attr_refs
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

    def _fill_frame(self, frame: DumpedFrame, record: Record) -> None:
        attrs = self._attrs(record.attrs, record.attr_refs)
        code = attrs.get("code")
        if isinstance(code, DumpedCode):
            frame.f_code = code
        frame.f_lineno = int(attrs.get("lineno") or 0)
        frame.f_lasti = int(attrs.get("lasti") or -1)
        local_vars, global_vars = attrs.get("locals"), attrs.get("globals")
        frame.f_locals = local_vars if isinstance(local_vars, dict) else {}
        frame.f_globals = global_vars if isinstance(global_vars, dict) else {}
        back = attrs.get("back")
        frame.f_back = back if isinstance(back, DumpedFrame) else None

    def _fill_traceback(self, traceback: DumpedTraceback, record: Record) -> None:
        attrs = self._attrs(record.attrs, record.attr_refs)
        if isinstance(attrs.get("frame"), DumpedFrame):
            traceback.tb_frame = attrs["frame"]
        traceback.tb_lineno = int(attrs.get("lineno") or 0)
        lasti = attrs.get("lasti")
        traceback.tb_lasti = int(lasti if isinstance(lasti, int) else -1)
        following = attrs.get("next")
        traceback.tb_next = following if isinstance(following, DumpedTraceback) else None

    def _function(self, record: Record) -> Any:
        oid, attrs, attr_refs = record.id, record.attrs, record.attr_refs
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

    def _module(self, record: Record) -> Any:
        attrs = self._attrs(record.attrs, record.attr_refs)
        name = attrs.get("name")
        if isinstance(name, str):
            if self.trusted:
                imported = self._import(name)
                if imported is not None:
                    return imported
            elif name in sys.stdlib_module_names and name in sys.modules:
                return sys.modules[name]
        module: Any = object.__new__(SurrogateModule)
        module.__dict__.update({"__name__": name, "__file__": attrs.get("file")})
        return module

    def _generator(self, record: Record) -> Any:
        oid, attrs, attr_refs = record.id, record.attrs, record.attr_refs
        kind = self._attr(record, "kind")
        kind = kind if isinstance(kind, str) else "generator"
        prefix = {"generator": "gi", "coroutine": "cr", "async_generator": "ag"}.get(kind, "gi")
        obj: Any = object.__new__(surrogate_class("builtins", kind, reason=surrogate_base.OPAQUE))

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

