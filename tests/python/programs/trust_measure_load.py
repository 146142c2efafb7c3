"""Loads one dump and reports the outcome with the memory and time it took.

    python trust_measure_load.py DUMP_PATH

Prints one JSON line: {"outcome": "loaded" | the DumpError class name, "error", "warnings", "peak_delta_mib" (the
growth of this process's peak resident set during read_header + load_dump), "seconds", "objects"}.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings

import pyheapdump


def peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> int:
    path = sys.argv[1]
    before = peak_kib()
    started = time.perf_counter()
    report: dict[str, object] = {"error": None, "warnings": 0, "objects": None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pyheapdump.read_header(path)
            dump = pyheapdump.load_dump(path)
            report["outcome"] = "loaded"
            report["objects"] = dump.metadata.get("objects")
        except pyheapdump.DumpError as error:
            report["outcome"] = type(error).__name__
            report["error"] = str(error)
    report["warnings"] = len(caught)
    report["seconds"] = time.perf_counter() - started
    report["peak_delta_mib"] = (peak_kib() - before) / 1024
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
