"""What grew between two dumps of the same process: by type, and the holders whose retained size grew most.

Record ids differ between two dumps, so a holder is matched by its path from the roots
(`thread MainThread > handle() > local 'cache'`), which names the same place in both.
"""

from __future__ import annotations

import os
from typing import Any

from pyheapdump.analysis import HeapAnalysis, _scope, analyze

# How many of each dump's largest holders are compared: growth hides in the big ones.
HOLDERS_COMPARED = 200


def diff_types(old: HeapAnalysis, new: HeapAnalysis) -> list[dict[str, Any]]:
    """[{"type", "count_old", "count_new", "bytes_old", "bytes_new"}], largest growth in bytes first."""
    rows: dict[str, dict[str, Any]] = {}
    for side, analysis in (("old", old), ("new", new)):
        for row in analysis.top(0, by_type=True):
            entry = rows.setdefault(row["type"], {"type": row["type"], "count_old": 0, "count_new": 0,
                                                  "bytes_old": 0, "bytes_new": 0})
            entry[f"count_{side}"] += row["count"]
            entry[f"bytes_{side}"] += row["shallow"]
    return sorted(rows.values(), key=lambda r: (-(r["bytes_new"] - r["bytes_old"]),
                                                -(r["count_new"] - r["count_old"]), r["type"]))


def diff_holders(old: HeapAnalysis, new: HeapAnalysis, n: int = 20) -> list[dict[str, Any]]:
    """[{"path", "type", "id_old", "id_new", "retained_old", "retained_new"}] for the holders whose retained size
    grew most (a holder only in the new dump grew from 0)."""
    before = {row["path"]: row for row in old.top(HOLDERS_COMPARED)}
    rows = []
    for row in new.top(HOLDERS_COMPARED):
        was = before.get(row["path"])
        if was is not None and was["type"] != row["type"]:
            was = None
        growth = row["retained"] - (was["retained"] if was else 0)
        if growth <= 0:
            continue
        rows.append({"path": row["path"], "type": row["type"], "id_old": was["id"] if was else None,
                     "id_new": row["id"], "retained_old": was["retained"] if was else 0,
                     "retained_new": row["retained"]})
    rows.sort(key=lambda r: (-(r["retained_new"] - r["retained_old"]), r["path"]))
    # A frame's locals dict grows by what its variables grow by: when one variable holds nearly all of the growth,
    # the variable is the holder to show, not the frame's locals.
    def named_by_a_variable(row: dict[str, Any]) -> bool:
        scope = _scope(row["path"])
        if scope == row["path"]:
            return False
        growth = row["retained_new"] - row["retained_old"]
        return any(other["path"].startswith(scope + " > local") or other["path"].startswith(scope + " > global")
                   for other in rows
                   if (other["retained_new"] - other["retained_old"]) * 10 >= growth * 9 and other is not row)

    kept = [row for row in rows if not named_by_a_variable(row)]
    return kept[:n] if n > 0 else kept


def diff(old: str | os.PathLike[str], new: str | os.PathLike[str], holders: int = 20) -> dict[str, Any]:
    """{"types": diff_types rows, "holders": diff_holders rows} for the dumps at old and new."""
    before, after = analyze(old), analyze(new)
    return {"types": diff_types(before, after), "holders": diff_holders(before, after, holders)}
