"""The dump's metadata without json, platform or datetime: the same text and the same facts as those modules give.

save_dump is imported by every process that installs the hooks, so it writes its header and summary with
pyheapdump.dump.json_writer and takes the platform and the time from os, sys and time; these tests hold them to what
json.dumps, platform and datetime produced before.
"""

from __future__ import annotations

import datetime
import enum
import json
import math
import os
import platform
import sys
import time

import pytest

import pyheapdump
from pyheapdump.dump import save
from pyheapdump.dump.json_writer import json_dumps

TRICKY_STRINGS = [
    "",
    "plain ascii",
    'quotes " and \\ backslashes \\" mixed',
    "control \x00 \x01 \x07 \x08 \t \n \x0b \x0c \r \x1b \x1f characters",
    "\x7f delete and \x80 \x9f C1 controls",
    "non-ASCII: café, naïve, Ωmega, 日本語",
    "astral: 😀 𝄞 \U0010ffff",
    "lone surrogates: \ud800 \udbff \udc00 \udfff and a pair written apart: \ud83d\ude00",
    "line and paragraph separators \u2028 \u2029, BOM \ufeff, \uffff",
    "/slashes/ are not escaped </script>",
]


NUMBERS = [0, -1, 2**70, -(2**70), True, False, 0.0, -0.0, 0.1, 1 / 3, 1e300, -1e300, 1e-300, 5e-324, 1e16, 123456789.0,
           float("nan"), float("inf"), float("-inf")]


@pytest.mark.parametrize("text", TRICKY_STRINGS)
def test_strings_are_written_as_json_dumps_writes_them(text: str) -> None:
    assert json_dumps(text) == json.dumps(text)
    assert json_dumps([text, {text: text}]) == json.dumps([text, {text: text}])


@pytest.mark.parametrize("number", NUMBERS, ids=repr)
def test_numbers_bools_and_none_are_written_as_json_dumps_writes_them(number: object) -> None:
    assert json_dumps(number) == json.dumps(number)
    assert json_dumps({number: number}) == json.dumps({number: number})  # keys become strings, as json makes them
    assert json_dumps(None) == json.dumps(None) == "null"
    assert json_dumps({None: [None]}) == json.dumps({None: [None]})


def test_int_and_float_subclasses_are_written_as_their_numbers() -> None:
    class Color(enum.IntEnum):
        RED = 1

    class Ratio(float):
        def __repr__(self) -> str:
            return "Ratio(...)"  # json writes the float's own digits, not this

    values = [Color.RED, Ratio(2.5), {Color.RED: Ratio(0.5), Ratio(1.5): Color.RED}]
    assert json_dumps(values) == json.dumps(values) == '[1, 2.5, {"1": 0.5, "1.5": 1}]'


def test_a_header_and_a_summary_like_save_dumps_are_written_as_json_dumps_writes_them() -> None:
    header = {
        "format": "1.3", "python": "3.11.7", "pid": 4242, "argv": ["service.py", "--token=é\u2028", "\ud800"],
        "main_file": None, "sys_path": ["", "/usr/lib/python3.11"], "time": "2026-05-04T10:20:30.123456+00:00",
        "description": 'quote " backslash \\', "threads": 3, "limits": {"max_objects": 10_000_000, "time_limit": 60.0,
                                                                       "max_repr": None},
        "redaction": True, "extra_stacks": {}, "nested": [[], {}, [[1, 2.5, "x"]], ({"tuple": (1, 2)},)],
    }
    assert json_dumps(header) == json.dumps(header)


def test_what_json_refuses_is_refused() -> None:
    for value in (object(), {1, 2}, b"bytes", {(1, 2): "tuple key"}, {b"k": 1}):
        with pytest.raises(TypeError):
            json.dumps(value)
        with pytest.raises(TypeError):
            json_dumps(value)


def test_the_platform_is_the_one_platform_gives_without_the_processor_field(monkeypatch: pytest.MonkeyPatch) -> None:
    # The dump leaves the processor field out (finding it runs `uname -p`); platform.platform() is asked for the same
    # text with that field blank, whatever this machine's processor is. pyheapdump is built for Linux only.
    monkeypatch.setattr(platform._Processor, "get", staticmethod(lambda: ""))
    monkeypatch.setattr(platform, "_uname_cache", None)
    monkeypatch.setattr(platform, "_platform_cache", {})
    assert save._PLATFORM == platform.platform()


def test_the_python_version_host_name_and_time_are_the_ones_platform_and_datetime_give(tmp_path) -> None:
    header = pyheapdump.read_header(pyheapdump.save_dump(tmp_path / "facts.heapdump", threads=False))
    assert header["python"] == platform.python_version()
    assert header["hostname"] == platform.node()
    written = datetime.datetime.fromisoformat(header["time"])
    assert written.utcoffset() == datetime.timedelta(0)
    assert abs((datetime.datetime.now(datetime.UTC) - written).total_seconds()) < 60


@pytest.mark.parametrize("seconds", [0, 1_777_777_777, 1_777_777_777.5, 1_777_777_777.25, 4_102_444_799.75])
def test_the_time_is_written_as_datetime_isoformat_writes_it(seconds: float) -> None:
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    fields = time.gmtime(math.floor(seconds))
    assert save._iso_time(fields, moment.microsecond) == moment.isoformat()


def test_the_default_name_has_the_program_pid_and_utc_time(monkeypatch: pytest.MonkeyPatch) -> None:
    for argv0, program in (("/srv/app/service.py", "service"), ("-c", "python"), ("", "python"),
                           ("tool.tar.gz", "tool.tar"), ("/srv/app/", "app")):
        monkeypatch.setattr(sys, "argv", [argv0])
        before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        name = save.default_dump_name()
        stem, pid, stamp = name.removesuffix(".heapdump").rsplit("-", 2)
        assert (stem, int(pid)) == (program, os.getpid())
        when = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=datetime.UTC)
        assert before <= when <= datetime.datetime.now(datetime.UTC)
