"""Values cut by `max_str` or `max_items`: the part the dump kept, marked as cut wherever it is shown.

A list cut at 100 of 5,000 items loads as a list of those 100 items whose class is a `Surrogate` subclass of list:
code that reads it still works on what was kept, while its repr (what a debugger, a traceback's locals or `p` show)
and `pyheapdump.surrogate_info(obj)` say how much is missing and which limit cut it:

    [0, 1, ..., 99] <+4,900 more items not dumped: max_items>
"""

from __future__ import annotations

import threading

from pyheapdump.surrogates.base import CUT, Surrogate, SurrogateInfo, attach_info, surrogate_info

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: every load imports this module
if TYPE_CHECKING:
    from typing import Any

__all__ = ["truncated"]

# What a cut is counted in, per builtin.
_UNITS: dict[type, str] = {str: "characters", bytes: "bytes", bytearray: "bytes"}

_lock = threading.Lock()
_classes: dict[type, type] = {}


def _truncated_repr(builtin: Any) -> Any:
    def __repr__(self: Any) -> str:
        info = surrogate_info(self)
        missing = info.facts.get("missing") if info is not None and isinstance(info.facts, dict) else None
        limit = info.facts.get("limit") if info is not None and isinstance(info.facts, dict) else None
        shown = builtin.__repr__(self)
        if not isinstance(missing, int):
            return f"{shown} <cut by a limit>"
        return f"{shown} <+{missing:,} more {_UNITS.get(builtin, 'items')} not dumped: {limit}>"

    return __repr__


def truncated_class(builtin: type) -> type:
    with _lock:
        cls = _classes.get(builtin)
        if cls is None:
            namespace = {
                "__module__": "builtins",
                "__qualname__": builtin.__qualname__,
                "__pyheapdump_original__": ("builtins", builtin.__qualname__),
                "__pyheapdump_reason__": CUT,
                "__repr__": _truncated_repr(builtin),
            }
            cls = _classes[builtin] = type(builtin.__name__, (builtin, Surrogate), namespace)
    return cls


def truncated(builtin: type, kept: Any, kept_count: int, original_length: Any, limit: str) -> Any:
    """The dumped part of a `builtin` value (`kept`, which may be empty for a container filled later, holding
    `kept_count` elements once filled) as a cut value that says what is missing.

    `original_length` is what the dump recorded as the value's length; a damaged record may hold anything there.
    """
    obj = truncated_class(builtin)(kept)
    length = original_length if type(original_length) is int and original_length >= kept_count else None
    missing = length - kept_count if length is not None else None
    unit = _UNITS.get(builtin, "items")
    detail = (f"kept {kept_count:,} of {length:,} {unit}: {limit} reached" if length is not None
              else f"kept {kept_count:,} {unit}: {limit} reached")
    attach_info(obj, SurrogateInfo("builtins", builtin.__qualname__, CUT, detail, None,
                                   {"kept": kept_count, "missing": missing, "limit": limit}))
    return obj
