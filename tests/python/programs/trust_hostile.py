"""Writes a hostile dump: objects whose reduce names os.system, subprocess.Popen and builtins.eval with payloads that
create marker files, and an instance of a class from a module whose import creates a marker file.

    python trust_hostile.py DUMP_PATH MARKER_DIR        (the module trust_evil_module must be importable)

The dump is written with call_user_reduce=True, so each reduce tuple is recorded as the program returned it: a
trusted load of this dump runs every payload (the tests check that too, so the payloads are known to be live).
"""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
from typing import Any

import trust_evil_module  # its import writes MARKER_DIR/import; the test removes that before loading

import pyheapdump


class RunsSystem:
    def __init__(self, marker_dir: str) -> None:
        self.marker = os.path.join(marker_dir, "system")

    def __reduce_ex__(self, protocol: int) -> Any:
        return (os.system, (f"touch {self.marker}",))


class RunsPopen:
    def __init__(self, marker_dir: str) -> None:
        self.marker = os.path.join(marker_dir, "popen")

    def __reduce_ex__(self, protocol: int) -> Any:
        return (subprocess.Popen, (["touch", self.marker],))


class RunsEval:
    def __init__(self, marker_dir: str) -> None:
        self.marker = os.path.join(marker_dir, "eval")

    def __reduce_ex__(self, protocol: int) -> Any:
        return (builtins.eval, (f"open({self.marker!r}, 'w').close()",))


def serve(marker_dir: str, dump_path: str) -> None:
    system = RunsSystem(marker_dir)
    popen = RunsPopen(marker_dir)
    evaluate = RunsEval(marker_dir)
    payload = trust_evil_module.Payload("kept")
    built = trust_evil_module.Built()
    try:
        raise RuntimeError(f"handling {len([system, popen, evaluate, payload, built])} hostile objects")
    except RuntimeError:
        pyheapdump.save_dump(dump_path, threads=False, call_user_reduce=True)


if __name__ == "__main__":
    serve(sys.argv[2], sys.argv[1])
