"""Values a walk-wide limit left out (`max_objects`, `max_bytes`, `time_limit`), and the containers that held them.

Each value left out loads as its own placeholder: an instance of a class named like the original's (deriving from
the same builtin where the original was a str, list, dict, ...) whose repr says what it was and which limit cut it.
Placeholders compare and hash by identity, so a dict whose keys were cut keeps one entry per key, and a set one element
per cut element: a cut loses a value, it never merges two. What they say is kept on their class, not per object: a
cut dump of millions of objects makes its placeholders at the cost of an empty instance each.

A plain list, tuple, dict, set, frozenset or deque that holds placeholders loads as a `Surrogate` subclass of its
builtin whose repr and `pyheapdump.surrogate_info(obj)` count what is missing:

    {'id': 7, 'score': 0.5, 'name': <builtins.str not dumped: max_objects reached>} <1 value not dumped: max_objects>
"""

from __future__ import annotations

import collections
import threading

from pyheapdump.surrogates.base import _BUILTINS_BY_NAME, CUT, Surrogate, SurrogateInfo, surrogate_class
from pyheapdump.surrogates.truncated import truncated_class

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: every load imports this module
if TYPE_CHECKING:
    from typing import Any

__all__ = ["NotDumped", "cut_container_class", "is_not_dumped", "not_dumped_class", "truncated_with_placeholders"]

_lock = threading.Lock()
_placeholder_classes: dict[tuple[str, str, str], type] = {}
_container_classes: dict[type, type] = {}


class NotDumped:
    """Marks the classes of placeholders for values a walk-wide limit left out."""

    __slots__ = ()
    __pyheapdump_cut_limit__ = "a limit"


def is_not_dumped(value: Any) -> bool:
    # issubclass on the type, never isinstance: that may read a (trusted) object's __class__, which is its own code.
    return issubclass(type(value), NotDumped)


def _identical(self: Any, other: Any) -> bool:
    return self is other


def _different(self: Any, other: Any) -> bool:
    return self is not other


def not_dumped_class(module: str, qualname: str, limit: str) -> type:
    """The class of placeholders for instances of module.qualname that `limit` left out (made once, then reused)."""
    key = (module, qualname, limit)
    cls = _placeholder_classes.get(key)
    if cls is not None:
        return cls
    base = surrogate_class(module, qualname, reason=CUT)
    builtin = next((klass for klass in base.__mro__ if klass in _BUILTINS_BY_NAME.values()), None)
    # An object left without any record (past the stop's allowance) has no class to name.
    unnamed = (module, qualname) == ("pyheapdump", "CutObject")
    text = f"<not dumped: {limit} reached>" if unnamed else f"<{module}.{qualname} not dumped: {limit} reached>"
    info = SurrogateInfo(module, qualname, CUT, f"not dumped: {limit}", text)

    def __repr__(self: Any) -> str:
        return text

    namespace = {
        "__module__": base.__module__,
        "__qualname__": base.__qualname__,
        "__pyheapdump_original__": (module, qualname),
        "__pyheapdump_reason__": CUT,
        "__pyheapdump_class_info__": info,
        "__pyheapdump_cut_limit__": limit,
        "__repr__": __repr__,
        # a cut str must not print as an empty one
        "__str__": __repr__,
        # Identity, in C (object's own hash slot): two cut keys "" would otherwise be one key.
        "__hash__": object.__hash__,
        "__eq__": _identical,
        "__ne__": _different,
        # Millions of placeholders: no instance dict, and (but for container builtins) not tracked by the collector.
        "__slots__": (),
    }
    bases = (Surrogate, NotDumped) if builtin is None else (builtin, Surrogate, NotDumped)
    try:
        made = type(base.__name__, bases, namespace)
    except TypeError:  # a builtin that cannot be subclassed together with these
        made = type(base.__name__, (Surrogate, NotDumped), namespace)
    with _lock:
        cls = _placeholder_classes.setdefault(key, made)
    return cls


def _count_cut(values: Any, limits: set[str]) -> int:
    """How many of values are placeholders (counted by type, in C: a cut dict may hold millions)."""
    by_type = collections.Counter(map(type, values))
    count = 0
    for cls, number in by_type.items():
        if issubclass(cls, NotDumped):
            count += number
            limits.add(cls.__pyheapdump_cut_limit__)
    return count


def _count(obj: Any) -> tuple[int, int, int, set[str]]:
    """(elements, cut keys, cut values or elements, limits) of a container."""
    limits: set[str] = set()
    if isinstance(obj, dict):
        keys = _count_cut(dict.keys(obj), limits)
        values = _count_cut(dict.values(obj), limits)
        return dict.__len__(obj), keys, values, limits
    builtin = _builtin_of(type(obj))
    values = _count_cut(builtin.__iter__(obj), limits)
    return builtin.__len__(obj), 0, values, limits


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _missing_text(obj: Any) -> tuple[str, dict[str, Any]]:
    size, keys, values, limits = _count(obj)
    limit = ", ".join(sorted(limits)) or "a limit"
    if isinstance(obj, dict):
        parts = [_plural(keys, "key")] if keys else []
        parts += [_plural(values, "value")] if values or not keys else []
        text = f"{' and '.join(parts)} of {size:,} " + ("entry" if size == 1 else "entries")
        facts = {"entries": size, "keys_not_dumped": keys, "values_not_dumped": values, "limit": limit}
    else:
        text = f"{values:,} of {_plural(size, 'item')}"
        facts = {"items": size, "not_dumped": values, "limit": limit}
    return f"{text} not dumped: {limit}", facts


def _describe(obj: Any) -> SurrogateInfo:
    builtin = _builtin_of(type(obj))
    text, facts = _missing_text(obj)
    return SurrogateInfo(builtin.__module__, builtin.__qualname__, CUT, text, None, facts)


def _builtin_of(cls: type) -> Any:
    for klass in cls.__mro__:
        if klass in _CONTAINERS:
            return klass
    return object


_CONTAINERS = (list, tuple, dict, set, frozenset, collections.deque)


def _container_repr(builtin: Any) -> Any:
    def __repr__(self: Any) -> str:
        text, _ = _missing_text(self)
        shown = builtin.__repr__(self)
        if builtin is set and shown.startswith("set({"):  # a set's own repr, not that of a subclass named set
            shown = shown[4:-1]
        return f"{shown} <{text}>"

    return __repr__


def cut_container_class(builtin: type) -> type:
    """The class of a plain `builtin` container (list, tuple, dict, set, frozenset, deque) that holds placeholders."""
    cls = _container_classes.get(builtin)
    if cls is not None:
        return cls
    namespace = {
        "__module__": builtin.__module__,
        "__qualname__": builtin.__qualname__,
        "__pyheapdump_original__": (builtin.__module__, builtin.__qualname__),
        "__pyheapdump_reason__": CUT,
        "__pyheapdump_describe__": staticmethod(_describe),
        "__repr__": _container_repr(builtin),
        "__slots__": (),  # no dict: a dict of atoms marked so can leave the cycle collector, as a plain one does
    }
    made = type(builtin.__name__, (builtin, Surrogate), namespace)
    with _lock:
        cls = _container_classes.setdefault(builtin, made)
    return cls


# A container cut by max_items whose kept part also holds placeholders: its dumped length and the limit that cut it
# are kept in its instance dict (its class has one), the placeholders are counted when asked, once it is filled.
_CUT_LENGTH = "__pyheapdump_cut_length__"
_cut_truncated_classes: dict[type, type] = {}


def _cut_truncated_text(obj: Any) -> tuple[str, str, dict[str, Any]]:
    """(detail, what the repr appends, facts) of a container cut by max_items that holds placeholders."""
    kept, keys, values, limits = _count(obj)
    length, limit = object.__getattribute__(obj, "__dict__").get(_CUT_LENGTH, (None, "max_items"))
    missing = length - kept if type(length) is int and length >= kept else None
    placeholder_limit = ", ".join(sorted(limits)) or "a limit"
    if isinstance(obj, dict):
        parts = [_plural(keys, "key")] if keys else []
        parts += [_plural(values, "value")] if values or not keys else []
        of_kept = f"{' and '.join(parts)} of the {kept:,} kept " + ("entry" if kept == 1 else "entries")
        facts: dict[str, Any] = {"keys_not_dumped": keys, "values_not_dumped": values}
    else:
        of_kept = f"{values:,} of the {_plural(kept, 'kept item')}"
        facts = {"not_dumped": values}
    facts = {"kept": kept, "missing": missing, "length": length, "limit": limit, **facts,
             "not_dumped_limit": placeholder_limit}
    cut = f"kept {kept:,} of {length:,} items" if missing is not None else f"kept {kept:,} items"
    detail = f"{cut}: {limit} reached; {of_kept} not dumped: {placeholder_limit}"
    more = f"+{missing:,} more items not dumped: {limit}" if missing is not None else f"cut by {limit}"
    return detail, f"{more}; {of_kept} not dumped: {placeholder_limit}", facts


def _cut_truncated_describe(obj: Any) -> SurrogateInfo:
    builtin = _builtin_of(type(obj))
    detail, _, facts = _cut_truncated_text(obj)
    return SurrogateInfo(builtin.__module__, builtin.__qualname__, CUT, detail, None, facts)


def _cut_truncated_repr(builtin: Any) -> Any:
    def __repr__(self: Any) -> str:
        _, suffix, _ = _cut_truncated_text(self)
        shown = builtin.__repr__(self)
        if builtin is set and shown.startswith("set({"):
            shown = shown[4:-1]
        return f"{shown} <{suffix}>"

    return __repr__


def truncated_with_placeholders(builtin: type, kept: Any, kept_count: int, original_length: Any, limit: str) -> Any:
    """A container that `limit` (max_items) cut, some of whose kept items a walk-wide limit left out: what
    `surrogate_info` and its repr say counts both, the items not kept and the kept ones that are placeholders.
    `kept` may be empty for a container filled later; the counts are taken when asked."""
    cls = _cut_truncated_classes.get(builtin)
    if cls is None:
        namespace = {
            "__module__": "builtins",
            "__qualname__": builtin.__qualname__,
            "__pyheapdump_describe__": staticmethod(_cut_truncated_describe),
            "__repr__": _cut_truncated_repr(builtin),
        }
        made = type(builtin.__name__, (truncated_class(builtin),), namespace)
        with _lock:
            cls = _cut_truncated_classes.setdefault(builtin, made)
    obj = cls(kept)
    length = original_length if type(original_length) is int and original_length >= kept_count else None
    object.__getattribute__(obj, "__dict__")[_CUT_LENGTH] = (length, limit)
    return obj
