"""`pyheapdump report`: one self-contained HTML file that shows where a dump's memory is.

The page holds its data as JSON (every `<` escaped, so no text from the dump can end the script) and draws it with
its own script through textContent only: the dumped program's strings are never parsed as HTML. Nothing is loaded
from the network.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Any

from pyheapdump.analysis import HeapAnalysis

TREE_DEPTH = 6
TREE_CHILDREN = 12
TREE_MIN_SHARE = 0.001  # below 0.1% of the heap a subtree is summed up, not listed
LOCALS_SHOWN = 40


def _tree(analysis: HeapAnalysis, total: int) -> dict[str, Any]:
    root: dict[str, Any] = {"id": None, "type": "", "via": "all objects reachable from the roots",
                            "retained": total, "shallow": 0, "children": []}
    level = [root]
    nodes: list[dict[str, Any]] = []
    for _ in range(TREE_DEPTH):
        following = []
        for node in level:
            children = analysis.dominated(node["id"], TREE_CHILDREN + 1)
            shown = [c for c in children[:TREE_CHILDREN] if c["retained"] >= total * TREE_MIN_SHARE]
            node["more"] = _not_listed(analysis, node, shown) if len(children) > len(shown) else None
            for child in shown:
                entry = {"id": child["id"], "type": child["type"], "retained": child["retained"],
                         "shallow": child["shallow"], "children": []}
                node["children"].append(entry)
                following.append(entry)
        nodes += following
        level = following
    # Each node named by how it is reached (the last step of its shortest path) and by the whole path.
    paths = analysis._core.paths([node["id"] for node in nodes])
    for node, path in zip(nodes, paths, strict=True):
        node["via"] = path[-1][2] if path else "(unreachable)"
        node["path"] = " > ".join(step[2] for step in path)
    return root


def _not_listed(analysis: HeapAnalysis, node: dict[str, Any], shown: list[dict[str, Any]]) -> dict[str, int]:
    """The children of a node that the tree leaves out: how many, and the bytes they retain together (what the node
    retains beyond itself and the children listed: in a dominator tree a node retains itself and its children)."""
    count = analysis.dominated_count(node["id"]) - len(shown)
    retained = node["retained"] - node["shallow"] - sum(child["retained"] for child in shown)
    return {"count": count, "retained": max(retained, 0)}


def _threads(analysis: HeapAnalysis) -> list[dict[str, Any]]:
    threads: list[dict[str, Any]] = []
    for root in analysis.roots():
        if not root["frame"]:
            continue
        if not threads or threads[-1]["name"] != root["root"]:
            threads.append({"name": root["root"], "frames": []})
        frame = {"name": root["frame"], "id": root["id"], "retained": root["retained"], "locals": []}
        parts = {part["via"]: part for part in analysis.references(root["id"])}
        if "locals" in parts:
            variables = analysis.references(parts["locals"]["id"], LOCALS_SHOWN)
            for variable in variables:
                name = variable["via"]
                frame["locals"].append({**variable, "name": name[2:-2] if name.startswith("['") else name})
        threads[-1]["frames"].append(frame)
    return threads


def report_data(analysis: HeapAnalysis) -> dict[str, Any]:
    """Everything the page shows, as plain JSON-able data."""
    summary = analysis.summary()
    header = analysis.header
    return {
        "file": os.path.basename(analysis.path),
        "header": {key: header.get(key) for key in ("python", "pid", "time", "reason", "exception", "hostname",
                                                     "description", "argv")},
        "summary": {key: summary[key] for key in ("objects", "reachable", "shallow", "retained", "references")},
        "suspects": summary["suspects"],
        "tree": _tree(analysis, summary["retained"]),
        "types": analysis.top(40, by_type=True),
        "top": analysis.top(30),
        "threads": _threads(analysis),
        "warnings": analysis.warnings,
    }


def _json_for_script(data: Any) -> str:
    # Inside <script>, "</script>" or "<!--" in a string would end or change the element: no "<" survives as is.
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(data: dict[str, Any]) -> str:
    """The page: the template with its style, its script (report.css, report.js beside this module) and data."""
    title = html.escape(f"Heap report: {data['file']}")
    here = Path(__file__).parent
    style = (here / "report.css").read_text(encoding="utf-8")
    script = (here / "report.js").read_text(encoding="utf-8")
    # One pass over the template: a replacement's own text (the data) is never searched for a placeholder again.
    parts = {"@TITLE@": title, "@STYLE@": style, "@SCRIPT@": script, "@DATA@": _json_for_script(data)}
    return re.sub("@(TITLE|STYLE|SCRIPT|DATA)@", lambda match: parts[match.group(0)], _TEMPLATE)


def write_report(analysis: HeapAnalysis, output: str | os.PathLike[str]) -> Path:
    """Writes the report of analysis to output; returns its path."""
    target = Path(output)
    target.write_text(render(report_data(analysis)), encoding="utf-8")
    return target


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>@TITLE@</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>@STYLE@</style></head>
<body><main id="app"><h1>@TITLE@</h1><p id="nojs">This report draws itself with JavaScript.</p></main>
<script type="application/json" id="data">@DATA@</script>
<script>@SCRIPT@</script></body></html>
"""
