"""Loads many dump files one after the other, the way a user would, and reports each outcome.

    python trust_load_cases.py CASES.json [PER_CASE_SECONDS]

CASES.json is a list of {"name": ..., "path": ...}. For each case this prints `START <name>` (flushed), then loads
the file with pyheapdump.read_header and pyheapdump.load_dump (safe mode), walks what was loaded and prints
`RESULT <json>`: {"name", "outcome": "loaded" | the DumpError class name | "BUG", "warnings": DumpLoadWarning count,
"error": message, "fingerprint": a canonical, JSON form of what a debugger would show (threads, frames, locals,
exception), where every surrogate is the marker "<surrogate>"}. A case still running after PER_CASE_SECONDS
(default 30) makes faulthandler print every stack and exit with status 1: the last START line names the hang, as
it names a crash.
"""

from __future__ import annotations

import faulthandler
import gc
import json
import math
import sys
import traceback
import warnings
from typing import Any

import pyheapdump
from pyheapdump.load.loader import DumpLoadWarning

SURROGATE = "<surrogate>"
MAX_DEPTH = 8
MAX_ITEMS = 200


def canonical(value: Any, depth: int = 0, active: frozenset[int] = frozenset()) -> Any:
    """A JSON-able picture of value that two loads of the same dump agree on (no ids, no addresses)."""
    if isinstance(value, pyheapdump.Surrogate):
        return SURROGATE
    if depth > MAX_DEPTH:
        return "<deep>"
    if id(value) in active:
        return "<cycle>"
    inner = active | {id(value)}
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return ["int", str(value)]
    if isinstance(value, float):
        return ["float", "nan" if math.isnan(value) else repr(value)]
    if isinstance(value, (str, bytes, bytearray)):
        return [type(value).__name__, value[:2000] if isinstance(value, str) else bytes(value[:2000]).hex()]
    if isinstance(value, (list, tuple)) or type(value).__name__ == "deque":
        return [type(value).__name__, [canonical(item, depth + 1, inner) for item in list(value)[:MAX_ITEMS]]]
    if isinstance(value, dict):
        items = list(value.items())[:MAX_ITEMS]
        return [type(value).__name__, [[canonical(k, depth + 1, inner), canonical(v, depth + 1, inner)]
                                       for k, v in items]]
    if isinstance(value, (set, frozenset)):
        members = sorted(json.dumps(canonical(item, depth + 1, inner)) for item in value)
        return [type(value).__name__, members[:MAX_ITEMS]]
    if isinstance(value, pyheapdump.DumpedFrame):
        return ["frame", value.f_code.co_qualname, value.f_lineno]
    if isinstance(value, BaseException):
        return ["exception", type(value).__qualname__, canonical(list(value.args), depth + 1, inner)]
    return ["object", f"{type(value).__module__}.{type(value).__qualname__}"]


def fingerprint(dump: pyheapdump.HeapDump) -> Any:
    threads = []
    for thread in dump.threads:
        frames = [[frame.f_code.co_qualname, frame.f_lineno, canonical(frame.f_locals)] for frame in thread.frames]
        threads.append([thread.name, thread.kind, frames])
    return {
        "threads": threads,
        "exception": canonical(dump.exception),
        "traceback": [[frame.f_code.co_qualname, frame.f_lineno] for frame in dump.traceback],
        "sources": sorted(dump.sources),
    }


def load_one(path: str) -> dict[str, Any]:
    result: dict[str, Any] = {"warnings": 0, "error": None, "fingerprint": None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pyheapdump.read_header(path)
            dump = pyheapdump.load_dump(path)
            result["fingerprint"] = fingerprint(dump)
            result["outcome"] = "loaded"
            result["problems"] = dump.warnings[:5]
            del dump
        except pyheapdump.DumpError as error:
            result["outcome"] = type(error).__name__
            result["error"] = str(error)
        except BaseException as error:  # noqa: BLE001 - anything else is the bug this program looks for
            result["outcome"] = "BUG"
            result["error"] = "".join(traceback.format_exception(error))[-3000:]
        gc.collect()  # surrogates' weakref callbacks run here: a deadlock in them shows up as a hang of this case
    result["warnings"] = sum(1 for warning in caught if issubclass(warning.category, DumpLoadWarning))
    return result


def main() -> int:
    cases = json.loads(open(sys.argv[1]).read())
    per_case = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    for case in cases:
        print("START", case["name"], flush=True)
        faulthandler.dump_traceback_later(per_case, exit=True)
        result = load_one(case["path"])
        faulthandler.cancel_dump_traceback_later()
        result["name"] = case["name"]
        print("RESULT", json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
