"""Plain classes that repr and compare like dataclasses, for the modules `import pyheapdump` and the loader load.

Those modules are imported by every process that installs the hooks or loads a dump, and importing dataclasses brings
inspect, ast, dis and tokenize with it (2.6 MB). A subclass names its fields, in order, as its `__slots__` and sets
them in its own `__init__` (a frozen one through `_set_fields`).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any, NoReturn


class ValueClass:
    """repr and == over the fields (the names in `__slots__`), as a dataclass gives; mutable, hence unhashable."""

    __slots__: tuple[str, ...] = ()

    def _field_values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in type(self).__slots__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self).__slots__)
        return f"{type(self).__qualname__}({fields})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ValueClass) or type(other) is not type(self):
            return NotImplemented
        return self._field_values() == other._field_values()


class IdentityValueClass(ValueClass):
    """A ValueClass compared and hashed by identity, as a dataclass with `eq=False` is; its repr still shows the
    fields."""

    __slots__: tuple[str, ...] = ()
    __eq__ = object.__eq__
    __hash__ = object.__hash__


class FrozenValueClass(ValueClass):
    """A ValueClass whose fields cannot change once `__init__` has set them, hashed by its fields (a frozen
    dataclass)."""

    __slots__: tuple[str, ...] = ()

    def _set_fields(self, *values: Any) -> None:
        for name, value in zip(type(self).__slots__, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__qualname__}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__qualname__}")

    def __hash__(self) -> int:
        return hash(self._field_values())

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        # pickle and copy would set the slots one by one, which __setattr__ refuses: they call the constructor.
        return type(self), self._field_values()
