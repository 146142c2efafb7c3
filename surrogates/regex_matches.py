"""re.Match objects: the pattern, the searched string and the groups' spans, shown by a surrogate whose group(),
groups(), groupdict(), span(), start() and end() answer from them. The match is not run again: a dumped
pattern and string could take exponential time to match."""

from __future__ import annotations

from pyheapdump.surrogates.base import CAPTURED_STATE, surrogate_class
from pyheapdump.typesupport import TypeSupport

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any


def capture_match(match: Any) -> dict[str, Any]:
    return {"re": match.re, "string": match.string, "regs": list(match.regs), "pos": match.pos,
            "endpos": match.endpos, "groupindex": dict(match.re.groupindex), "lastindex": match.lastindex,
            "lastgroup": match.lastgroup}


def _index(self: Any, group: Any) -> int:
    if isinstance(group, str):
        index = self.__dict__["groupindex"].get(group)
        if index is None:
            raise IndexError("no such group")
        return int(index)
    if isinstance(group, int) and 0 <= group < len(self.__dict__["regs"]):
        return group
    raise IndexError("no such group")


def _one(self: Any, group: Any, default: Any = None) -> Any:
    start, end = self.__dict__["regs"][_index(self, group)]
    return default if start < 0 else self.__dict__["string"][start:end]


def group(self: Any, *groups: Any) -> Any:
    if len(groups) <= 1:
        return _one(self, groups[0] if groups else 0)
    return tuple(_one(self, g) for g in groups)


def groups(self: Any, default: Any = None) -> tuple[Any, ...]:
    return tuple(_one(self, index, default) for index in range(1, len(self.__dict__["regs"])))


def groupdict(self: Any, default: Any = None) -> dict[str, Any]:
    return {name: _one(self, index, default) for name, index in self.__dict__["groupindex"].items()}


def span(self: Any, group: Any = 0) -> tuple[int, int]:
    start, end = self.__dict__["regs"][_index(self, group)]
    return (start, end)


def start(self: Any, group: Any = 0) -> int:
    return span(self, group)[0]


def end(self: Any, group: Any = 0) -> int:
    return span(self, group)[1]


def match_repr(self: Any) -> str:
    return f"<re.Match object; span={span(self)!r}, match={_one(self, 0)!r}>"


_METHODS: dict[str, Any] = {
    "group": group, "groups": groups, "groupdict": groupdict, "span": span, "start": start, "end": end,
    "__getitem__": _one, "__repr__": match_repr,
}


def rebuild_match(state: dict[str, Any]) -> Any:
    regs = state.get("regs")
    if not isinstance(regs, list) or not regs or not all(
            isinstance(r, tuple) and len(r) == 2 and all(type(i) is int for i in r) for r in regs):
        raise TypeError("the match's spans are damaged")
    if not isinstance(state.get("string"), (str, bytes)) or not isinstance(state.get("groupindex"), dict):
        raise TypeError("the match's string is damaged")
    cls = surrogate_class("re", "Match", reason=CAPTURED_STATE, attributes=_METHODS)
    match: Any = object.__new__(cls)
    match.__dict__.update(state)
    match.__dict__["regs"] = tuple(regs)
    return match


SUPPORTS = (TypeSupport("re-match", ("re.Match",), capture_match, rebuild_match, safe=True),)
