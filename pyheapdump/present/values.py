"""Values as text, for every front end: pdb's listings, the IDE's variables view and the CLI's locals.

Each is a bounded repr (a dumped local may hold a million entries) that reports a failing `__repr__` instead of
raising it: a rebuilt object's `__repr__` may not cope with its rebuilt state. The bounds differ by front end (a
pdb line, an IDE's variables pane, a traceback listing), so each has its own profile below; the code is one.
"""

from __future__ import annotations

import reprlib
from typing import Any

from pyheapdump.surrogates.base import CUT, Surrogate, surrogate_info

VALUE_LIMIT = 1000  # characters of a value shown in an IDE's variables view
LOCAL_REPR_LIMIT = 200  # characters of a local in the CLI's traceback listing


def bounded_repr(value: Any, shown: reprlib.Repr) -> str:
    """`shown.repr(value)`; a failing `__repr__` is reported instead of raised."""
    try:
        return shown.repr(value)
    except Exception as error:  # a rebuilt object's __repr__ may fail; say so instead of failing the command
        return repr_failed(error)


def repr_failed(error: BaseException) -> str:
    return f"<repr failed: {type(error).__name__}: {error}>"


def _profile(*, maxstring: int, maxlevel: int | None = None, maxitems: int | None = None,
             maxdict: int | None = None) -> reprlib.Repr:
    shown = reprlib.Repr()
    shown.maxstring = shown.maxother = maxstring
    if maxlevel is not None:
        shown.maxlevel = maxlevel
    if maxitems is not None:
        shown.maxlist = shown.maxtuple = shown.maxset = shown.maxfrozenset = shown.maxdeque = maxitems
    if maxdict is not None:
        shown.maxdict = maxdict
    return shown


# pdb's one-line listings (`locals`-style messages): reprlib's defaults, with longer strings.
PDB_REPR = _profile(maxstring=200)
# An IDE's variables view: deeper and wider, cut to VALUE_LIMIT characters by value_text.
IDE_REPR = _profile(maxstring=300, maxlevel=3, maxitems=60, maxdict=40)
_CONTAINERS = (dict, list, tuple, set, frozenset)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def value_text(value: Any, limit: int = VALUE_LIMIT) -> str:
    """A bounded repr; a failing `__repr__` is reported instead of raised."""
    try:
        if limit > VALUE_LIMIT:
            return _cut(repr(value), limit)
        for base in _CONTAINERS:
            # A container surrogate's repr lists all of its items; show a bounded listing of the same form.
            if isinstance(value, base) and isinstance(value, Surrogate):
                inner = getattr(IDE_REPR, f"repr_{base.__name__}")(value, IDE_REPR.maxlevel)
                return _cut(f"{type(value).__name__}({inner})", limit)
        return _cut(IDE_REPR.repr(value), limit)
    except Exception as error:  # a rebuilt object's __repr__ may not cope with its rebuilt state
        return repr_failed(error)


def type_text(value: Any) -> str:
    """The type the IDE shows: the original's class for a surrogate, with why it is one."""
    info = surrogate_info(value)
    if info is not None and not isinstance(value, type):
        return f"{info.original} (surrogate: {info.reason})"
    cls = type(value)
    module = getattr(cls, "__module__", "builtins")
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"



# ---- the CLI's listing: a budget in characters, not in elements ----


def listing_repr(value: Any, limit: int = LOCAL_REPR_LIMIT) -> str:
    """repr(value) cut to `limit` characters, built no longer than that (see _limited_repr)."""
    try:
        text = _limited_repr(value, limit, set())
    except Exception as error:  # a rebuilt object's __repr__ may fail; the listing goes on
        text = repr_failed(error)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_OPEN_CLOSE = {list: ("[", "]"), tuple: ("(", ")"), dict: ("{", "}"), set: ("{", "}"), frozenset: ("frozenset({", "})")}


def _limited_repr(value: Any, budget: int, active: set[int]) -> str:
    """repr(value), except that a builtin container (or one a limit cut) stops adding elements once its text is longer
    than budget: a local holding a million entries must not be turned into a million-entry string to show 200
    characters of it. What a cut container misses is said right after its first elements."""
    cls = type(value)
    base: Any = cls if cls in _OPEN_CLOSE else None
    suffix = ""
    if base is None and issubclass(cls, Surrogate):
        base = next((b for b in cls.__mro__ if b in _OPEN_CLOSE), None)
        info = surrogate_info(value) if base is not None else None
        if info is None or info.reason != CUT or not info.detail or info.repr:
            base = None  # a surrogate of a program's container shows its class: its own repr
        else:
            suffix = f" <{info.detail}>"
    if base is None:
        return repr(value)
    if id(value) in active:
        return "[...]" if base is list else "{...}" if base is dict else "(...)"
    if not base.__len__(value):
        return {set: "set()", frozenset: "frozenset()"}.get(base, base.__repr__(base()))
    active.add(id(value))
    try:
        opening, closing = _OPEN_CLOSE[base]
        parts: list[str] = []
        budget -= len(suffix)  # the suffix says what is missing: it is kept, the elements give way
        used = len(opening)
        elements = dict.items(value) if base is dict else base.__iter__(value)
        for element in elements:
            if used > budget:
                parts.append("...")
                break
            if base is dict:
                key, item = element
                text = f"{_limited_repr(key, budget - used, active)}: {_limited_repr(item, budget - used, active)}"
            else:
                text = _limited_repr(element, budget - used, active)
            parts.append(text)
            used += len(text) + 2
        comma = "," if base is tuple and len(parts) == 1 and parts[0] != "..." else ""
        content = f"{opening}{', '.join(parts)}{comma}{closing}"
        if suffix and len(content) > budget:
            content = content[: max(budget - 3 - len(closing), len(opening))] + "..." + closing
        return content + suffix
    finally:
        active.discard(id(value))
