"""JSON text of the dump's metadata (its header and summary) and of the pid-dump protocol's small files.

Exactly what `json.dumps(value)` writes with its default options (ASCII only, ", " and ": " separators, NaN and
Infinity allowed, the keys in the dict's order), for the types that json encodes without help: str, int, float,
bool, None, list, tuple and dict. Written here because this runs inside every dump and is imported by every process
that installs the hooks: the json package would add over 1 MB to each of them.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any

# What json escapes with ensure_ascii: the quote, the backslash, and every character outside printable ASCII.
_NEEDS_ESCAPE = re.compile(r'["\\]|[^ -~]')
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _escape(match: re.Match[str]) -> str:
    character = match.group()
    short = _SHORT_ESCAPES.get(character)
    if short is not None:
        return short
    code = ord(character)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    # Outside the Basic Multilingual Plane: the UTF-16 surrogate pair, each half escaped.
    code -= 0x10000
    return f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}"


def _string(text: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(_escape, text) + '"'


def _float(number: float) -> str:
    if number != number:
        return "NaN"
    if number in (float("inf"), float("-inf")):
        return "Infinity" if number > 0 else "-Infinity"
    return float.__repr__(number)  # the float's own digits, also for a subclass that changes its repr


def _key(key: Any) -> str:
    """A dict key as json writes it: a str as it is; a number, bool or None as its JSON text, quoted."""
    if isinstance(key, str):
        return _string(key)
    if key is None or isinstance(key, (int, float)):  # bool is an int
        return f'"{json_dumps(key)}"'
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def json_dumps(value: Any) -> str:
    """`json.dumps(value)`, byte for byte, for str, int, float, bool, None, list, tuple and dict values."""
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)  # an IntEnum member is its number, as json writes it
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(json_dumps(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(key)}: {json_dumps(item)}" for key, item in value.items()) + "}"
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
