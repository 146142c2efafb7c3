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


VALUES_PROGRAM = """
import datetime, decimal, sys, pyheapdump

class MyDatetime(datetime.datetime):
    pass

def run():
    tz = datetime.timezone(datetime.timedelta(hours=5, minutes=30), "IST")
    values = [
        datetime.datetime(2024, 2, 29, 13, 45, 7, 123456),
        datetime.datetime(2021, 11, 7, 1, 30, fold=1),
        datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc),
        datetime.datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=tz, fold=1),
        datetime.date(1999, 12, 31),
        datetime.time(23, 59, 59, 999999),
        datetime.time(1, 2, 3, 4, tzinfo=tz, fold=1),
        datetime.timedelta(days=-3, seconds=5, microseconds=7),
        datetime.timedelta.max,
        decimal.Decimal("-12345.678900"),
        decimal.Decimal("-0"),
        decimal.Decimal("NaN123"),
        decimal.Decimal("-sNaN"),
        decimal.Decimal("-Infinity"),
        decimal.Decimal("1E+999999"),
        MyDatetime(2024, 1, 2, 3, 4, 5),
    ]
    for value in values:
        print(repr(value.__reduce_ex__(4)))
    pyheapdump.save_dump(sys.argv[1], threads=False)
if __name__ == "__main__":
    run()
"""


def test_datetime_and_decimal_reduce_to_what_their_reduce_ex_gives(tmp_path, monkeypatch):
    """The walker builds these reduce tuples from the objects' fields; the loaded copy must be the very value."""
    program = tmp_path / "values_program.py"
    program.write_text(VALUES_PROGRAM)
    dump = tmp_path / "values.heapdump"
    made = subprocess.run([sys.executable, str(program), str(dump)], capture_output=True, text=True, timeout=120,
                          env=child_env(), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = pyheapdump.load_dump(dump, trusted=True).threads[0].frames[-1].f_locals["values"]
    reduced = made.stdout.splitlines()
    assert len(loaded) == len(reduced) == 16
    for value, expected in zip(loaded[:-1], reduced[:-1], strict=True):
        assert repr(value.__reduce_ex__(4)) == expected
    assert [getattr(value, "fold", 0) for value in loaded[:7]] == [0, 1, 0, 1, 0, 0, 1]
    assert type(loaded[-1]).__name__ == "MyDatetime" and loaded[-1] == datetime.datetime(2024, 1, 2, 3, 4, 5)


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
    rows = re.findall(r"^\s*@\d+\s+([\d,]+)\s+(\S+)\s*$", largest, re.MULTILINE)
    reported = sorted((name, size.replace(",", "")) for size, name in rows)
    for name, size in expected:
        assert (name, size) in reported, (name, size, reported)
