"""Loads each dump named on the command line and prints one JSON line per file saying what happened.

outcome: "loaded" (with the DumpLoadWarning messages and what was recovered), "DumpFormatError" (with its message),
or "unexpected" (any other exception: a loader bug). The output is flushed after every file, so if the interpreter
dies on a file, the last line printed names the file before it.
"""

import json
import sys
import traceback
import warnings

import pyheapdump
from pyheapdump.load.loader import DumpLoadWarning


def whole(row):
    """A row whose own parts were loaded (a part of a lost chunk is a placeholder instead). Only its own: the few
    "tag-N" strings every row shares come last in the walk, so a cut anywhere loses them for every row."""
    if not isinstance(row, dict) or not isinstance(row.get("name"), str) or not row["name"].startswith("row-"):
        return False
    return isinstance(row.get("tags"), list) and len(row["tags"]) == 2


def placeholder(rows):
    """What surrogate_info says about the first row name that did not come back."""
    for row in rows if isinstance(rows, list) else ():
        name = row.get("name") if isinstance(row, dict) else row
        info = pyheapdump.surrogate_info(name)
        if info is not None:
            return {"reason": info.reason, "detail": info.detail, "original": info.original}
    return None


def recovered(dump):
    """What of engine_bulk.py's main() frame came back."""
    for thread in dump.threads:
        for frame in thread.frames:
            if frame.f_code.co_name == "main":
                rows = frame.f_locals.get("rows")
                intact = sum(1 for row in rows if whole(row)) if isinstance(rows, list) else 0
                return {"marker": frame.f_locals.get("marker"), "rows": len(rows) if isinstance(rows, list) else None,
                        "intact_rows": intact, "placeholder": placeholder(rows)}
    return {"marker": None, "rows": None, "intact_rows": 0}


def outcome(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            dump = pyheapdump.load_dump(path)
        except pyheapdump.DumpFormatError as error:
            return {"outcome": "DumpFormatError", "message": str(error)}
        except Exception as error:  # noqa: BLE001 - reported, so the test can name the loader bug
            return {"outcome": "unexpected", "message": f"{type(error).__name__}: {error}",
                    "traceback": traceback.format_exc()}
    load_warnings = [str(w.message) for w in caught if issubclass(w.category, DumpLoadWarning)]
    return {"outcome": "loaded", "warnings": load_warnings, "dump_warnings": list(dump.warnings),
            **recovered(dump)}


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(json.dumps({"file": name, **outcome(name)}), flush=True)
