"""The walker's shortcuts give what the slow, general paths give.

Object sizes are computed without calling __sizeof__ through the interpreter, and __reduce_ex__ is found once per type
instead of once per object; these tests check the results against what Python itself says.
"""

from __future__ import annotations

import datetime
import decimal
import re
import subprocess
import sys

from debug_support import child_env, run_cli

import pyheapdump

CLASSES_MODULE = """
class Slotted:
    # No instance dict and a __reduce__ of its own: reduced through the function found once for the class.
    __slots__ = ("x",)

    def __init__(self, x):
        self.x = x

    def __reduce__(self):
        return (Slotted, (self.x * 10,))  # visibly different from the object, so the test sees which path ran


class Rebuilt:
    def __init__(self, how):
        self.how = how


class Watched:
    # A __getattribute__ of its own decides what obj.__reduce_ex__ is, not the class's method: it must be asked.
    __slots__ = ()  # no instance dict either: only the __getattribute__ tells the walker to ask

    def __reduce_ex__(self, protocol):
        return (Rebuilt, ("the class's __reduce_ex__",))

    def __getattribute__(self, name):
        if name == "__reduce_ex__":
            return lambda protocol: (Rebuilt, (f"__getattribute__ with protocol {protocol}",))
        return object.__getattribute__(self, name)
"""

REDUCE_PROGRAM = """
import datetime, decimal, sys, pyheapdump
from fastpath_classes import Slotted, Watched
def run():
    values = {
        "slotted": [Slotted(1), Slotted(2)],
        "watched": Watched(),
        "when": datetime.datetime(2024, 2, 29, 13, 45, 7, 123456),
        "day": datetime.date(1999, 12, 31),
        "amount": decimal.Decimal("-12345.678900"),
    }
    pyheapdump.save_dump(sys.argv[1], threads=False, call_user_reduce=True)
if __name__ == "__main__":  # a trusted load imports this script: it must not dump again then
    run()
"""


def test_reduce_found_once_per_type_gives_what_obj_reduce_ex_gives(tmp_path, monkeypatch):
    (tmp_path / "fastpath_classes.py").write_text(CLASSES_MODULE)
    program = tmp_path / "reduce_program.py"
    program.write_text(REDUCE_PROGRAM)
    dump = tmp_path / "reduce.heapdump"
    made = subprocess.run([sys.executable, str(program), str(dump)], capture_output=True, text=True, timeout=120,
                          env=child_env(), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = pyheapdump.load_dump(dump, trusted=True).threads[0].frames[-1].f_locals["values"]
    assert [item.x for item in loaded["slotted"]] == [10, 20]
    assert type(loaded["watched"]).__name__ == "Rebuilt"
    assert loaded["watched"].how == "__getattribute__ with protocol 4"
    assert loaded["when"] == datetime.datetime(2024, 2, 29, 13, 45, 7, 123456)
    assert loaded["day"] == datetime.date(1999, 12, 31)
    assert str(loaded["amount"]) == "-12345.678900" and isinstance(loaded["amount"], decimal.Decimal)


SIZES_PROGRAM = r"""
import sys, pyheapdump
def run():
    text = "x" * 3_000_001
    wide = "\u20ac" * 1_000_003
    items = [None] * 2_000_000
    items.append(1)
    mapping = {i: i for i in range(200_000)}
    blob = b"y" * 1_500_007
    pair = tuple(range(250_000))
    for name, value in [("str", text), ("str", wide), ("list", items), ("dict", mapping), ("bytes", blob),
                        ("tuple", pair)]:
        print(name, value.__sizeof__())
    pyheapdump.save_dump(sys.argv[1], threads=False)
if __name__ == "__main__":
    run()
"""


def test_largest_objects_report_the_size_their_sizeof_gives(tmp_path):
    program = tmp_path / "sizes.py"
    program.write_text(SIZES_PROGRAM)
    dump = tmp_path / "sizes.heapdump"
    made = subprocess.run([sys.executable, str(program), str(dump)], capture_output=True, text=True, timeout=120,
                          env=child_env())
    assert made.returncode == 0, made.stderr
    expected = sorted(tuple(line.split()) for line in made.stdout.splitlines())
    shown = run_cli("stats", dump)
    assert shown.returncode == 0, shown.stderr
    largest = shown.stdout.split("Largest objects:")[1].split("Cut by limits:")[0]
    rows = re.findall(r"^\s*\d+\s+([\d,]+)\s+(\S+)\s*$", largest, re.MULTILINE)
    reported = sorted((name, size.replace(",", "")) for size, name in rows)
    for name, size in expected:
        assert (name, size) in reported, (name, size, reported)
