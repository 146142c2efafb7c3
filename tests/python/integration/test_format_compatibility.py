"""A dump loads the same values whichever format version wrote it.

tests/python/programs/format_values.py holds the values whose records format 1.4 changed (a reduce with only
arguments: datetimes, Decimals, UUIDs, ... now written as one CALL record with its arguments inline, where 1.3 wrote a
REDUCE record and a TUPLE record of its arguments). tests/python/data/format-1.3.heapdump is that program's dump as
format 1.3 wrote it; a dump of it by this tree is the current format. Both must load every value, equal and of its
type, with the same object shared where the program shared it, in a safe and in a trusted load.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from engine_support import PROGRAMS, frame_named, last_json_line, run_program, run_python

import pyheapdump
from pyheapdump import Surrogate

FORMAT_1_3 = Path(__file__).resolve().parents[1] / "data" / "format-1.3.heapdump"


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    sys.path.insert(0, str(PROGRAMS))
    try:
        import format_values
    finally:
        sys.path.remove(str(PROGRAMS))
    return format_values.values()


@pytest.fixture(scope="module")
def current_dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("format") / "current.heapdump"
    return Path(last_json_line(run_program("format_values.py", path).stdout)["path"])


def held_values(path: Path, trusted: bool) -> dict[str, Any]:
    dump = pyheapdump.load_dump(path, trusted=trusted)
    assert dump.warnings == [], dump.warnings
    return frame_named(dump.threads[0].frames, "hold").f_locals["held"]


def assert_loads_the_same(held: dict[str, Any], expected: dict[str, Any], trusted: bool) -> None:
    assert sorted(held) == sorted(expected)
    for name, value in expected.items():
        if name == "payments":
            continue
        loaded = held[name]
        assert type(loaded) is type(value), (name, loaded)
        if name == "nan":
            assert loaded.is_nan(), loaded
            continue
        assert loaded == value, (name, loaded, value)
        if isinstance(value, datetime.datetime | datetime.time):
            assert loaded.isoformat() == value.isoformat() and loaded.tzname() == value.tzname(), (name, loaded)
    assert held["paris"].tzinfo.key == "Europe/Paris"
    assert held["paris_summer"].utcoffset() == datetime.timedelta(hours=2)
    assert held["amount"] is held["same_amount"], "one Decimal the program shared became two"
    for loaded, value in zip(held["payments"], expected["payments"], strict=True):
        # The program's own class (its __main__): a surrogate of it, unless a trusted load rebuilds the class (from
        # a dump of its own Python version).
        assert type(loaded).__qualname__ == "Payment" and (trusted or isinstance(loaded, Surrogate))
        assert (loaded.amount, loaded.when, loaded.tags) == (value.amount, value.when, value.tags)
        assert type(loaded.amount) is type(value.amount) and type(loaded.when) is type(value.when)


@pytest.mark.parametrize("trusted", [False, True], ids=["safe", "trusted"])
def test_a_format_1_3_dump_loads_the_same_values(expected: dict[str, Any], trusted: bool) -> None:
    header = pyheapdump.read_header(FORMAT_1_3)
    assert header["format"] == "1.3"
    assert_loads_the_same(held_values(FORMAT_1_3, trusted), expected, trusted)


@pytest.mark.parametrize("trusted", [False, True], ids=["safe", "trusted"])
def test_a_dump_of_this_version_loads_the_same_values(expected: dict[str, Any], current_dump: Path,
                                                      trusted: bool) -> None:
    assert_loads_the_same(held_values(current_dump, trusted), expected, trusted)


def test_the_path_to_a_datetimes_zone_names_the_argument_it_is(current_dump: Path) -> None:
    # `pyheapdump paths` walks a CALL record's arguments as the reduce's: the zone is the datetime's argument 1, with
    # no tuple between them (1.3 showed the reduce's args tuple, an object the program never had).
    result = run_python(["-m", "pyheapdump", "paths", current_dump, "zoneinfo.ZoneInfo", "--json"])
    assert result.returncode == 0, result.stderr
    [path] = json.loads(result.stdout)
    assert [(step["type"], step["via"]) for step in path[-3:]] == [
        ("dict", "local 'held'"), ("datetime.datetime", "dict['paris']"),
        ("zoneinfo.ZoneInfo", "datetime (reduce argument 1)")]
    old = run_python(["-m", "pyheapdump", "paths", FORMAT_1_3, "zoneinfo.ZoneInfo", "--json"])
    assert [step["via"] for step in json.loads(old.stdout)[0][-2:]] == ["datetime (reduce args)", "tuple[1]"]
