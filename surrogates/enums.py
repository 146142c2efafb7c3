"""Members of the program's enums (Enum, IntEnum, Flag, IntFlag, StrEnum): their name and value.

A safe load cannot import the program's enum class, so a member comes back as an instance of the class's surrogate
that still reads like the member: `<Color.GREEN: 2>`, `.name`, `.value`; an IntEnum or IntFlag member is still
that int and a StrEnum member that str. When the class is real (a trusted load, or an importable library's enum)
the real member is looked up by name, or made from its value.
"""

from __future__ import annotations

import enum

from pyheapdump.surrogates.base import Surrogate, instance_dict
from pyheapdump.typesupport import TypeSupport

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any

_type_mro = type.__dict__["__mro__"].__get__
_type_qualname = type.__dict__["__qualname__"].__get__
_REPR_ENUM = getattr(enum, "ReprEnum", None)  # 3.11+: IntEnum, IntFlag, StrEnum print as their value


def capture_member(member: Any) -> dict[str, Any]:
    cls = type(member)
    mro = _type_mro(cls)
    # `is`, never `in`/`==`: the program's metaclass may define __eq__.
    if any(klass is int for klass in mro):
        base = "int"
    elif any(klass is str for klass in mro):
        base = "str"
    else:
        base = "object"
    state = instance_dict(member)
    return {
        "class": cls,
        "name": state.get("_name_"),
        "value": state.get("_value_"),
        "base": base,
        "value_str": _REPR_ENUM is not None and any(klass is _REPR_ENUM for klass in mro),
    }


def _short_name(cls: Any) -> str:
    return str(cls.__pyheapdump_original__[1]).rpartition(".")[2]


def _member_repr(self: Any) -> str:
    state = self.__dict__
    name, value = state.get("_name_"), state.get("_value_")
    if name is None:
        return f"<{_short_name(type(self))}: {value!r}>"
    return f"<{_short_name(type(self))}.{name}: {value!r}>"


def _member_str(self: Any) -> str:
    state = self.__dict__
    if state.get("__pyheapdump_value_str__"):
        return str(state.get("_value_"))
    name = state.get("_name_")
    if name is None:
        return f"{_short_name(type(self))}({state.get('_value_')!r})"
    return f"{_short_name(type(self))}.{name}"


_MEMBER_METHODS = {"__repr__": _member_repr, "__str__": _member_str}


def rebuild_member(state: dict[str, Any]) -> Any:
    cls, name, value = state.get("class"), state.get("name"), state.get("value")
    if not isinstance(cls, type):
        raise TypeError("the member's class did not load")
    if not issubclass(cls, Surrogate):
        # A real enum class: only a trusted load, or a library a safe load may import, gives one.
        if not isinstance(cls, enum.EnumMeta):
            raise TypeError(f"{cls.__qualname__} is not an enum class here")
        member: Any = cls._member_map_.get(name) if isinstance(name, str) else None
        return member if member is not None else cls(value)
    for method, function in _MEMBER_METHODS.items():
        # Set on the surrogate class itself: its instances are this enum's members, so type(member) stays the
        # class the dump names (and the one the class's own attributes refer to).
        if cls.__dict__.get(method) is not function:
            setattr(cls, method, function)
    base = state.get("base")
    if base == "int" and issubclass(cls, int) and type(value) is int:
        member = int.__new__(cls, value)
    elif base == "str" and issubclass(cls, str) and type(value) is str:
        member = str.__new__(cls, value)
    elif issubclass(cls, (int, str, bytes, tuple, float)):
        raise TypeError("the member's value does not fit its class")
    else:
        member = object.__new__(cls)
    member.__dict__.update({"_name_": name, "_value_": value, "name": name, "value": value,
                            "__pyheapdump_value_str__": bool(state.get("value_str"))})
    return member


ENUM = TypeSupport("enum-member", (), capture_member, rebuild_member, safe=True)
# Matched by the dump policy for every Enum subclass outside the standard library (see pyheapdump.dump.policy); the
# standard library's enums keep pickle's reduce, which a safe load follows to the real member.
SUPPORTS = (ENUM,)
