"""The children of a value, as a variables view lists them: items, attributes, an exception's parts, with the
expression that reaches each one (for the IDE's "evaluate" and "copy as expression")."""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from typing import Any

from pyheapdump.present.values import _CONTAINERS, value_text
from pyheapdump.surrogates.base import Surrogate, surrogate_info

MAX_CHILDREN = 1000  # children listed for one value when the client asks for all of them


@dataclasses.dataclass
class Child:
    """One entry of an expanded value: its name in the view, the value, and an expression that reaches it."""

    name: str
    value: Any
    evaluate_name: str | None = None
    hint: str | None = None  # "virtual" for entries that are not attributes or items of the value
    text: str | None = None  # shown instead of the value's repr
    indexed: bool = False  # an item of a list or tuple, paged by index
    expand: Callable[[], list[Child]] | None = None  # the children, when they are not the value's own


_LITERAL_KEYS = (str, int, float, bool, bytes, type(None))


def _item_expression(parent: str | None, key: Any) -> str | None:
    if parent is None or type(key) not in _LITERAL_KEYS:
        return None
    return f"{parent}[{key!r}]"


def _attribute_expression(parent: str | None, name: str) -> str | None:
    return f"{parent}.{name}" if parent is not None and name.isidentifier() else None


def _instance_state(value: Any) -> dict[str, Any]:
    """`__dict__` and `__slots__` read the way the dumper reads them: no property or `__getattr__` runs."""
    state: dict[str, Any] = {}
    try:
        own = object.__getattribute__(value, "__dict__")
    except Exception:
        own = None
    if isinstance(own, dict | types.MappingProxyType):
        state.update((name, item) for name, item in own.items() if isinstance(name, str))
    for klass in type(value).__mro__:
        for name, member in vars(klass).items():
            if isinstance(member, types.MemberDescriptorType) and name not in state:
                try:
                    state[name] = member.__get__(value, type(value))
                except Exception:
                    continue  # an unset slot, or a slot of another layout
    return state


def _exception_children(value: BaseException, parent: str | None) -> list[Child]:
    children = [Child("args", value.args, _attribute_expression(parent, "args"))]
    for name in ("__cause__", "__context__"):
        linked = getattr(value, name)
        if linked is not None:
            children.append(Child(name, linked, _attribute_expression(parent, name)))
    if isinstance(value, BaseExceptionGroup):
        children.append(Child("exceptions", value.exceptions, _attribute_expression(parent, "exceptions")))
    return children


def _items(value: Any) -> list[tuple[Any, Any]]:
    # The builtin's own iteration: a (trusted) subclass's overridden items() is program code.
    if isinstance(value, dict):
        return list(dict.items(value))
    return list(value.items())


def _sequence(value: Any) -> list[Any]:
    bases: tuple[Any, ...] = (list, tuple, set, frozenset)
    for base in bases:
        if isinstance(value, base):
            return list(base.__iter__(value))
    return []


def children(value: Any, parent: str | None) -> list[Child]:
    """What expanding `value` shows; `parent` is an expression for `value` (None when there is none)."""
    result: list[Child] = []
    info = surrogate_info(value) if not isinstance(value, type) else None
    if info is not None:
        result.append(Child("(surrogate)", info, None, "virtual"))
    if isinstance(value, dict | types.MappingProxyType):
        result += [Child(value_text(k, 200), v, _item_expression(parent, k)) for k, v in _items(value)]
    elif isinstance(value, list | tuple):
        items = enumerate(_sequence(value))
        result += [Child(str(i), item, f"{parent}[{i}]" if parent else None, indexed=True) for i, item in items]
    elif isinstance(value, set | frozenset):
        result += [Child(f"<{i}>", item) for i, item in enumerate(_sequence(value))]
    if isinstance(value, BaseException):
        result += _exception_children(value, parent)
    if not isinstance(value, types.ModuleType | type) or info is not None:
        state = _instance_state(value)
    elif isinstance(value, types.ModuleType):
        state = {}  # a real module: its contents are the local machine's, not the dump's
    else:
        state = dict(vars(value))
    result += [Child(name, item, _attribute_expression(parent, name)) for name, item in state.items()]
    return result


_ATOMS = (
    str,
    bytes,
    bytearray,
    int,
    float,
    complex,
    bool,
    type(None),
    range,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.CodeType,
)


def expandable(value: Any) -> bool:
    if isinstance(value, _ATOMS) and not isinstance(value, Surrogate):
        return False
    if isinstance(value, (*_CONTAINERS, types.MappingProxyType)):
        return bool(value) or isinstance(value, Surrogate)
    try:
        return bool(children(value, None))
    except Exception:
        return False


def indexed_count(value: Any) -> int:
    """How many indexed children a list or tuple has (the IDE pages through them)."""
    return len(value) if isinstance(value, list | tuple) and not isinstance(value, Surrogate) else 0


def _named(mapping: Mapping[str, Any]) -> list[Child]:
    return [Child(name, value, name if name.isidentifier() else None) for name, value in mapping.items()]


def _split_special(mapping: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Dunder names apart from the rest, grouped the way debugpy groups them."""
    plain: dict[str, Any] = {}
    special: dict[str, Any] = {}
    for name, value in mapping.items():
        if not isinstance(name, str):
            continue
        (special if name.startswith("__") and name.endswith("__") else plain)[name] = value
    return plain, special
