"""What holds the memory: dominators, retained sizes and paths from the roots of a dump, without rebuilding objects.

`analyze(path)` reads the dump's records once into compact arrays (native/analysis.h) and answers from them; no
object of the dumped program is made, imported or called. Ids are the dump's record ids, the ones `pyheapdump stats`
lists; types are named `module.qualname` (builtins without their module, as the dump's histogram names them).
"""

from __future__ import annotations

import os
import re
from typing import Any

import pyheapdump._native as _native
from pyheapdump.errors import DumpError
from pyheapdump.load.loader import read_header

__all__ = ["HeapAnalysis", "analyze", "parse_target", "path_text"]

_ID_TARGET = re.compile(r"^@?(\d+)$")


def parse_target(target: str | int) -> int | str:
    """`@ID` (or a bare number, or an int) -> the record id; anything else is a type name."""
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    text = str(target).strip()
    match = _ID_TARGET.match(text)
    return int(match.group(1)) if match else text


def path_text(steps: list[dict[str, Any]]) -> str:
    """A path as one line: `thread MainThread > handle() > local 'cache' > dict['user:42'] > Session.payload`."""
    return " > ".join(step["via"] for step in steps)


class HeapAnalysis:
    """The analysis of one dump; see `analyze`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        header = read_header(self.path)
        root = header.get("root")
        self._header = header
        objects = header.get("objects")
        heap = header.get("heap")
        unreached = heap.get("unreached") if isinstance(heap, dict) else None
        self._core = _native.Analysis(self.path, root if isinstance(root, int) and root > 0 else 1,
                                      objects if isinstance(objects, int) and 0 < objects < 2**32 else 0,
                                      unreached if isinstance(unreached, int) and unreached > 0 else 0)

    @property
    def header(self) -> dict[str, Any]:
        """The dump's header merged with its summary (as `pyheapdump.read_header` returns it)."""
        return dict(self._header)

    @property
    def warnings(self) -> list[str]:
        """What was damaged or could not be read: those records' references are missing from the graph."""
        return list(self._core.warnings)

    def summary(self) -> dict[str, Any]:
        """Objects, how many the roots reach, their bytes, and the leak suspects (objects retaining 10% or more)."""
        totals = dict(self._core.summary())
        suspects = [row for row in self.top(20) if totals["retained"] and row["retained"] * 10 >= totals["retained"]]
        # A suspect inside another suspect's retained size with nearly all of it says the same thing twice.
        kept: list[dict[str, Any]] = []
        for row in suspects:
            inside = kept and row["path"].startswith(_scope(kept[-1]["path"]))
            if inside and row["retained"] * 10 >= kept[-1]["retained"] * 9:
                kept[-1] = row
            else:
                kept.append(row)
        totals["suspects"] = kept
        totals["python"] = self._header.get("python")
        totals["pid"] = self._header.get("pid")
        totals["time"] = self._header.get("time")
        return totals

    def top(self, n: int = 20, by_type: bool = False) -> list[dict[str, Any]]:
        """The objects (or types) retaining the most, largest first.

        An object: {"id", "type", "shallow", "retained", "path"}; a type: {"type", "count", "shallow", "retained"}.
        Objects leave out the dump's own scaffolding (its root record, thread lists, frames and code objects)."""
        if by_type:
            return [{"type": t, "count": c, "shallow": s, "retained": r} for t, c, s, r in self._core.top_types(n)]
        rows = self._core.top(n)
        paths = self._core.paths([row[0] for row in rows])
        return [
            {"id": oid, "type": name, "shallow": shallow, "retained": retained, "path": path_text(_steps(path))}
            for (oid, name, shallow, retained), path in zip(rows, paths, strict=True)
        ]

    def paths(self, target: str | int, max: int = 5) -> list[list[dict[str, Any]]]:  # noqa: A002 (the CLI's --max)
        """The shortest paths from the roots to `target`: `@ID` (or an int id), or every instance of a type named
        `module.qualname` (those retaining the most first), at most `max` paths. Each path is a list of steps
        {"id", "type", "via"}: the object reached and how (the first step of a thread is the thread, id None)."""
        wanted = parse_target(target)
        if isinstance(wanted, int):
            if self._core.object(wanted) is None:
                raise DumpError(f"{self.path} has no object @{wanted}")
            ids = [wanted]
        else:
            ids = self._core.instances(wanted, max)
            if not ids:
                raise DumpError(f"{self.path} has no reachable instance of {wanted} (types are named module.qualname, "
                                "as `pyheapdump top --by-type` lists them)")
        return [_steps(path) for path in self._core.paths(ids[: max if max > 0 else None])]

    def retained(self, target: str | int) -> dict[str, Any] | None:
        """One object: {"id", "type", "shallow", "retained", "dominator", "path"}; None when the dump has no such id."""
        wanted = parse_target(target)
        if not isinstance(wanted, int):
            raise ValueError(f"retained() takes an id (@ID or an int), not {target!r}")
        row = self._core.object(wanted)
        if row is None:
            return None
        oid, name, shallow, retained = row
        path = self._core.paths([oid])[0]
        return {"id": oid, "type": name, "shallow": shallow, "retained": retained,
                "dominator": self._core.dominator(oid), "path": path_text(_steps(path)) if path else None}

    def dominated(self, target: str | int | None = None, n: int = 0) -> list[dict[str, Any]]:
        """What `target` (None: the roots) dominates directly, largest retained first: the dominator tree's children."""
        wanted = 0 if target is None else parse_target(target)
        if not isinstance(wanted, int):
            raise ValueError(f"dominated() takes an id (@ID or an int), not {target!r}")
        return [{"id": oid, "type": name, "shallow": shallow, "retained": retained}
                for oid, name, shallow, retained in self._core.dominated(wanted, n)]

    def dominated_count(self, target: str | int | None = None) -> int:
        """How many objects `target` (None: the roots) dominates directly: the length of dominated(target)."""
        wanted = 0 if target is None else parse_target(target)
        if not isinstance(wanted, int):
            raise ValueError(f"dominated_count() takes an id (@ID or an int), not {target!r}")
        return self._core.dominated_count(wanted)


    def references(self, target: str | int, n: int = 0) -> list[dict[str, Any]]:
        """What `target` references, in order, at most n (0: all): [{"via", "id", "type", "shallow", "retained"}]
        where via names the reference as a path step does (`['user:42']`, `[3]`, `.payload`, `locals`)."""
        wanted = parse_target(target)
        if not isinstance(wanted, int):
            raise ValueError(f"references() takes an id (@ID or an int), not {target!r}")
        return [{"via": via, "id": oid, "type": name, "shallow": shallow, "retained": retained}
                for via, oid, name, shallow, retained in self._core.references(wanted, n)]

    def roots(self) -> list[dict[str, Any]]:
        """The roots in order: each thread's frames (innermost first), the exception, the frame asked for, a heap
        dump's modules and unreached objects, the dump's root record: [{"root", "frame", "id", "type", "shallow",
        "retained"}] ("root": "thread MainThread", "module json", ...; "frame": "handle()" or "")."""
        return [{"root": first, "frame": second, "id": oid, "type": name, "shallow": shallow, "retained": retained}
                for first, second, oid, name, shallow, retained in self._core.roots()]


def _scope(path: str) -> str:
    """A frame's locals dict holds what its variables hold: `... > handle() > locals` is the scope of
    `... > handle() > local 'cache'`."""
    for suffix in (" > locals", " > globals"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


def _steps(path: list[tuple[int | None, str, str]]) -> list[dict[str, Any]]:
    return [{"id": oid, "type": name, "via": via} for oid, name, via in path]


def analyze(path: str | os.PathLike[str]) -> HeapAnalysis:
    """Reads the dump at path for analysis: `.top(n, by_type=False)`, `.paths(target, max=N)`, `.retained(id)`,
    `.summary()`, `.dominated(id)`. Nothing of the dumped program is rebuilt or run."""
    return HeapAnalysis(path)  # read_header says what is wrong with a path that is no dump file
