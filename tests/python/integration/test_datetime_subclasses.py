"""A subclass of date, datetime, time or timedelta loads holding its value, whichever way the dump could write it.

tests/python/programs/engine_datetime_subclasses.py holds the program's own subclasses (reduced by the builtin's C
reduce in pickle's form, or opaque: its own __reduce__ is code the dump never runs) and pandas' Timedelta (opaque: its
reduce is pandas' code) and Timestamp (reduced by a function of pandas'). Where the class itself cannot be loaded (a
safe load, or a reduce the dump did not run) the object is a surrogate of it that is also a real date, datetime,
time or timedelta of the dumped value, so that a debugger shows and computes with it.
"""

from __future__ import annotations

import datetime
import importlib.util
from pathlib import Path
from typing import Any

import pytest
from engine_support import frame_named, last_json_line, run_program

import pyheapdump
from pyheapdump import Surrogate

BUILTINS = (datetime.datetime, datetime.date, datetime.time, datetime.timedelta)


@pytest.fixture(scope="module")
def dumped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("datetimes") / "subclasses.heapdump"
    return last_json_line(run_program("engine_datetime_subclasses.py", path).stdout)


def loaded_values(dumped: dict[str, Any], trusted: bool) -> dict[str, Any]:
    dump = pyheapdump.load_dump(Path(dumped["path"]), trusted=trusted)
    assert dump.warnings == []
    return frame_named(dump.threads[0].frames, "hold").f_locals["values"]


@pytest.mark.parametrize("trusted", [False, True], ids=["safe", "trusted"])
def test_every_subclass_holds_its_value(dumped: dict[str, Any], trusted: bool) -> None:
    values = loaded_values(dumped, trusted)
    assert sorted(values) == sorted(dumped["values"])
    for name, seen in dumped["values"].items():
        value = values[name]
        builtin = next(b for b in BUILTINS if isinstance(value, b))  # a real one, not only named like it
        assert type(value).__qualname__ == seen["class"], name
        assert builtin.__str__(value) == seen["value"], (name, value)


def test_a_safe_load_makes_surrogates_that_compute(dumped: dict[str, Any]) -> None:
    values = loaded_values(dumped, trusted=False)
    period = values["period"]  # opaque: its __reduce__ was not run; the dump wrote its value beside it
    assert isinstance(period, Surrogate) and isinstance(period, datetime.timedelta)
    assert pyheapdump.surrogate_info(period).reason == "opaque"
    assert period + datetime.timedelta(hours=1) == datetime.timedelta(days=1, hours=3)
    deadline = values["deadline"]
    assert isinstance(deadline, Surrogate) and deadline.utcoffset() == datetime.timedelta(hours=2)
    assert deadline.astimezone(datetime.UTC).hour == 5


@pytest.mark.skipif(importlib.util.find_spec("pandas") is None, reason="pandas is not installed")
@pytest.mark.parametrize("trusted", [False, True], ids=["safe", "trusted"])
def test_pandas_timedelta_and_timestamp_hold_their_value(dumped: dict[str, Any], trusted: bool) -> None:
    values = loaded_values(dumped, trusted)
    delta = values["pandas_timedelta"]  # opaque in both loads: pandas' own __reduce__ is not run by the dump
    assert isinstance(delta, Surrogate) and delta.days == 1 and delta.seconds == 7200
    stamp = values["pandas_timestamp"]
    assert stamp == datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.UTC)
    assert isinstance(stamp, Surrogate) is not trusted  # a trusted load calls pandas' own function
