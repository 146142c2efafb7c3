"""Setting a rebuilt object's state without running the dumped program's code, and small helpers of the
rebuilder."""

from __future__ import annotations

import functools
import sys
import types

from pyheapdump.load.allowlists import _VALUE_BASES
from pyheapdump.load.records import _MISSING
from pyheapdump.surrogates import base as surrogate_base
from pyheapdump.surrogates.base import (
    Surrogate,
)
from pyheapdump.surrogates.namedtuples import METHODS as namedtuple_methods

# No typing at run time: the load benchmark and every debugger session pay for what the loader imports.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _attribute_path(module: types.ModuleType | None, qualname: str) -> Any:
    obj: Any = module
    if module is None:
        return _MISSING
    for part in qualname.split("."):
        obj = getattr(obj, part, _MISSING)
        if obj is _MISSING:
            return _MISSING
    return obj



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


def _datetime_family(klass: Any) -> bool:
    """datetime's date, datetime, time or timedelta. A class of the dump derives from one only once the load has
    imported datetime for it: the loader does not import it itself."""
    module = sys.modules.get("datetime")
    return module is not None and klass in (module.datetime, module.date, module.time, module.timedelta)


def _builtin_base(cls: Any) -> type | None:
    """The builtin whose behaviour a (surrogate) class keeps: the first value type (or one of datetime's) or exception
    in its MRO."""
    if not isinstance(cls, type):
        return None
    for klass in cls.__mro__:
        if klass in _VALUE_BASES or _datetime_family(klass):
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
                setattr(cls, field, property(functools.partial(_field, index=index)))
        if issubclass(cls, Surrogate):
            for name, method in namedtuple_methods.items():
                setattr(cls, name, method)


def _field(self: tuple[Any, ...], index: int) -> Any:
    """A namedtuple field's accessor: the item at index, by tuple's own __getitem__ (no code of the class runs)."""
    return tuple.__getitem__(self, index)
