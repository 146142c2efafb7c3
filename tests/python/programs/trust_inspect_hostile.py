"""Loads the dump trust_hostile.py wrote and reports what came back for each local of its `serve` frame.

    python trust_inspect_hostile.py DUMP_PATH safe|trusted|header

Prints one JSON line: {"locals": {name: {"type", "surrogate", "reason"}}, "evil_module_imported": bool}; with
`header`, only read_header runs.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import pyheapdump


def main() -> int:
    path, mode = sys.argv[1], sys.argv[2]
    if mode == "header":
        header = pyheapdump.read_header(path)
        imported = "trust_evil_module" in sys.modules
        print(json.dumps({"exception": header["exception"], "evil_module_imported": imported}))
        return 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dump = pyheapdump.load_dump(path, trusted=mode == "trusted")
    frame = next(frame for frame in dump.traceback if frame.f_code.co_name == "serve")
    report = {}
    for name, value in frame.f_locals.items():
        info = pyheapdump.surrogate_info(value)
        report[name] = {"type": f"{type(value).__module__}.{type(value).__qualname__}",
                        "surrogate": isinstance(value, pyheapdump.Surrogate),
                        "reason": info.reason if info is not None else None}
    if mode == "trusted":
        time.sleep(0.5)  # a Popen the trusted load started runs `touch` on its own
    print(json.dumps({"locals": report, "evil_module_imported": "trust_evil_module" in sys.modules}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
