"""namedtuples (collections.namedtuple, typing.NamedTuple) of the program: a surrogate that still reads like one.

Their class is the program's, so a safe load makes a tuple-based surrogate class; the loader gives it the field
names as properties (from the class's dumped `_fields`) and these methods: `Point(x=1, y=2)`, `_asdict()`.
"""

from __future__ import annotations

from pyheapdump.typesupport import TypeSupport

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any


def _fields_of(self: Any) -> tuple[Any, ...]:
    fields = type(self).__dict__.get("_fields")
    return fields if isinstance(fields, tuple) else ()


def namedtuple_repr(self: Any) -> str:
    # A surrogate class knows its original's name; a class a trusted load remade from the dump is named itself.
    original = getattr(type(self), "__pyheapdump_original__", ("", type(self).__qualname__))
    name = str(original[1]).rpartition(".")[2]
    fields = _fields_of(self)
    values = tuple.__iter__(self)
    if len(fields) != tuple.__len__(self):  # a damaged class: show what there is
        return f"{name}{tuple.__repr__(self)}"
    return f"{name}({', '.join(f'{field}={value!r}' for field, value in zip(fields, values, strict=False))})"


def namedtuple_asdict(self: Any) -> dict[Any, Any]:
    return dict(zip(_fields_of(self), tuple.__iter__(self), strict=False))


METHODS = {"__repr__": namedtuple_repr, "_asdict": namedtuple_asdict}
SUPPORTS: tuple[TypeSupport, ...] = ()  # nothing to capture: a namedtuple is dumped as a tuple with its class
