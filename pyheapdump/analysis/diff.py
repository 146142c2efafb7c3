"""What grew between two dumps of the same process: by type, and the holders whose retained size grew most.

Record ids differ between two dumps, so a holder is matched by its path from the roots
(`thread MainThread > handle() > local 'cache'`), which names the same place in both.
"""

from __future__ import annotations

import os
from typing import Any

from pyheapdump.analysis import HeapAnalysis, analyze

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
        rows.append({"path": row["path"], "type": row["type"], "id_old": was["id"] if was else None, "id_new": row["id"],
                     "retained_old": was["retained"] if was else 0, "retained_new": row["retained"]})
    rows.sort(key=lambda r: (-(r["retained_new"] - r["retained_old"]), r["path"]))
    # A holder inside another that grew by the same bytes (the dict inside the local) says it again: keep the deeper.
    kept: list[dict[str, Any]] = []
    for row in rows:
        growth = row["retained_new"] - row["retained_old"]
        twin = next((k for k in kept if k["retained_new"] - k["retained_old"] == growth
                     and (row["path"].startswith(k["path"]) or k["path"].startswith(row["path"]))), None)
        if twin is None:
            kept.append(row)
        elif len(row["path"]) > len(twin["path"]):
            kept[kept.index(twin)] = row
    return kept[:n] if n > 0 else kept


def diff(old: str | os.PathLike[str], new: str | os.PathLike[str], holders: int = 20) -> dict[str, Any]:
    """{"types": diff_types rows, "holders": diff_holders rows} for the dumps at old and new."""
    before, after = analyze(old), analyze(new)
    return {"types": diff_types(before, after), "holders": diff_holders(before, after, holders)}
