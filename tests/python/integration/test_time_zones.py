"""Datetimes keep their wall time and UTC offset wherever the dump is loaded, whatever their zone.

tests/python/programs/real_time_zones.py dumps datetimes in a ZoneInfo zone, in a ZoneInfo made from a file under a
key no tz database has ("Mars/Olympus"), in a datetime.timezone and in dateutil's zones, and prints how they read in
the dumping process. A zone the load cannot make (the key is unknown there and the dump has no data for it, or
another library's zone that a safe load does not rebuild or that is not installed) gives a fixed-offset
datetime.timezone of the offset at dump time, named after the zone and saying so.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from engine_support import child_env, frame_named, last_json_line, run_program

import pyheapdump

HAVE_DATEUTIL = importlib.util.find_spec("dateutil") is not None
HAVE_PYTZ = importlib.util.find_spec("pytz") is not None

needs_dateutil = pytest.mark.skipif(not HAVE_DATEUTIL, reason="dateutil is not installed (pandas brings it)")
needs_pytz = pytest.mark.skipif(not HAVE_PYTZ, reason="pytz is not installed (tests/requirements.txt has it)")


@pytest.fixture(scope="module")
def dumped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("zones") / "zones.heapdump"
    result = run_program("real_time_zones.py", path)
    return path, last_json_line(result.stdout)


def scene(path: Path, trusted: bool = False) -> tuple[pyheapdump.HeapDump, dict[str, Any]]:
    # The zone object itself is a surrogate here: the load says so, once, naming the zone.
    with pytest.warns(UserWarning, match="time zone 'Mars/Olympus' is not in this machine's tz"):
        dump = pyheapdump.load_dump(path, trusted=trusted)
    return dump, frame_named(dump.threads[0].frames, "schedule").f_locals


def assert_same_as_when_dumped(value: Any, seen: dict[str, Any]) -> None:
    assert type(value) is datetime.datetime, repr(value)
    assert value.isoformat() == seen["iso"] and value.hour == seen["hour"], (value, seen)


def test_a_zoneinfo_key_unknown_here_keeps_the_offset_at_dump_time(dumped: tuple[Path, dict[str, Any]]) -> None:
    path, seen = dumped
    dump, local = scene(path)
    olympus = local["olympus"]
    assert_same_as_when_dumped(olympus, seen["olympus"])
    assert olympus.isoformat() == "2024-01-15T09:05:00+01:00"
    assert type(olympus.tzinfo) is datetime.timezone
    assert olympus.tzname() == "Mars/Olympus (+01:00 at dump time; zone not available here)"
    assert "Mars/Olympus (+01:00 at dump time; zone not available here)" in repr(olympus)
    # Arithmetic works on the real datetime: the same instant as 08:05 UTC, an hour later is 10:05 there.
    assert olympus - datetime.datetime(2024, 1, 15, 8, 5, tzinfo=datetime.UTC) == datetime.timedelta(0)
    assert (olympus + datetime.timedelta(hours=1)).hour == 10
    assert any("Mars/Olympus" in problem and "offset at dump time" in problem for problem in dump.warnings), \
        dump.warnings
    # Zones that load as themselves are untouched.
    assert_same_as_when_dumped(local["paris"], seen["paris"])
    assert local["paris"].tzinfo.key == "Europe/Paris"
    assert_same_as_when_dumped(local["kolkata"], seen["kolkata"])
    assert local["kolkata"].tzname() == "IST"


@needs_dateutil
def test_dateutil_zones_in_a_safe_load(dumped: tuple[Path, dict[str, Any]]) -> None:
    path, seen = dumped
    _, local = scene(path)
    for name in ("parsed", "dateutil_utc", "dateutil_paris"):
        assert_same_as_when_dumped(local[name], seen[name])
    parsed = local["parsed"]
    assert type(parsed.tzinfo) is datetime.timezone
    # dateutil's zones reduce by their library's Python code, which a dump never runs: they are dumped opaque.
    assert parsed.tzname() == "UTC+02:00 (+02:00 at dump time; dateutil.tz.tz.tzoffset not rebuilt: opaque)"
    assert local["dateutil_utc"].utcoffset() == datetime.timedelta(0)
    assert "dateutil.tz.tz.tzutc" in local["dateutil_utc"].tzname()
    # A dateutil zone of the tz database comes back as the ZoneInfo of its key: its DST rules, not one offset.
    paris = local["dateutil_paris"]
    assert paris.tzinfo.key == "Europe/Paris" and paris.utcoffset() == datetime.timedelta(hours=1)
    assert (paris - datetime.timedelta(days=160)).utcoffset() == datetime.timedelta(hours=2)
    assert parsed == local["paris"]  # 14:30+02:00 both: the same instant


@needs_dateutil
def test_a_trusted_load_gives_the_same_datetimes(dumped: tuple[Path, dict[str, Any]]) -> None:
    path, seen = dumped
    _, local = scene(path, trusted=True)
    for name in ("parsed", "dateutil_utc", "dateutil_paris", "olympus", "paris", "kolkata"):
        assert_same_as_when_dumped(local[name], seen[name])
    assert local["dateutil_paris"].tzinfo.key == "Europe/Paris"


@needs_pytz
@pytest.mark.parametrize("trusted", [False, True], ids=["safe", "trusted"])
def test_pytz_datetimes_keep_the_offset_pytz_gave_them(dumped: tuple[Path, dict[str, Any]], trusted: bool) -> None:
    # pytz gives each datetime a fixed offset, which arithmetic keeps until pytz's normalize(): half a year on, the
    # New York datetime is still -04:00 in the program. The loaded one is the same wall time in a fixed-offset zone
    # named after its key, so it computes what the program computed, with or without pytz installed.
    path, seen = dumped
    _, local = scene(path, trusted=trusted)
    for name in ("pytz_new_york", "pytz_utc"):
        value = local[name]
        assert_same_as_when_dumped(value, seen[name])
        assert (value + datetime.timedelta(days=180)).isoformat() == seen[name]["later"], name
    new_york = local["pytz_new_york"]
    assert type(new_york.tzinfo) is datetime.timezone
    assert new_york.isoformat() == "2024-07-01T09:00:00-04:00" and seen["pytz_new_york"]["tzname"] == "EDT"
    assert new_york.tzname().startswith("America/New_York (-04:00 at dump time; pytz"), new_york.tzname()
    assert local["pytz_utc"].utcoffset() == datetime.timedelta(0)


_BARE_LOADER = """
import json, sys, zoneinfo
import pyheapdump
assert zoneinfo.TZPATH == (), zoneinfo.TZPATH
try:
    zoneinfo.ZoneInfo("Europe/Paris")
    raise SystemExit("Europe/Paris is known here")
except zoneinfo.ZoneInfoNotFoundError:
    pass
dump = pyheapdump.load_dump(sys.argv[1])
local = [f for f in dump.threads[0].frames if f.f_code.co_name == "schedule"][-1].f_locals
shown = {}
for name, value in local.items():
    if name in ("paris", "olympus", "kolkata", "parsed", "dateutil_utc"):
        shown[name] = {"iso": value.isoformat(), "hour": value.hour, "tzname": value.tzname(),
                       "type": type(value).__name__, "later": (value + __import__("datetime").timedelta(hours=1)).hour}
print(json.dumps(shown))
"""


def test_without_a_tz_database_or_dateutil_datetimes_keep_their_offset(
        dumped: tuple[Path, dict[str, Any]], bare_python: Path) -> None:
    """A venv without tzdata and dateutil, with no system tz database on its zone path (PYTHONTZPATH empty)."""
    path, seen = dumped
    result = subprocess.run([str(bare_python), "-c", _BARE_LOADER, str(path)], capture_output=True, text=True,
                            timeout=120, env=child_env(PYTHONTZPATH=""))
    assert result.returncode == 0, result.stdout + result.stderr
    shown = json.loads(result.stdout.splitlines()[-1])
    for name, value in shown.items():
        assert value["type"] == "datetime", (name, value)
        assert (value["iso"], value["hour"]) == (seen[name]["iso"], seen[name]["hour"]), (name, value, seen[name])
        assert value["later"] == (seen[name]["hour"] + 1) % 24
    assert shown["paris"]["tzname"] == "CEST"  # made from the zone's data in the dump
    assert shown["olympus"]["tzname"] == "Mars/Olympus (+01:00 at dump time; zone not available here)"
    assert shown["kolkata"]["tzname"] == "IST"
    if HAVE_DATEUTIL:
        assert shown["parsed"]["tzname"] == ("UTC+02:00 (+02:00 at dump time; dateutil.tz.tz.tzoffset not rebuilt: "
                                             "opaque)")
        assert "dateutil.tz.tz.tzutc not rebuilt" in shown["dateutil_utc"]["tzname"]
    assert "Mars/Olympus" in result.stderr  # the load says which zone it could not make


def test_traceback_locals_show_the_zone_that_was_not_available(dumped: tuple[Path, dict[str, Any]]) -> None:
    path, _ = dumped
    result = subprocess.run([sys.executable, "-m", "pyheapdump", "traceback", "--locals", str(path)],
                            capture_output=True, text=True, env=child_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    olympus = next(line for line in result.stdout.splitlines() if line.strip().startswith("olympus = "))
    assert olympus.strip() == ("olympus = datetime.datetime(2024, 1, 15, 9, 5, tzinfo=datetime.timezone("
                               "datetime.timedelta(seconds=3600), 'Mars/Olympus (+01:00 at dump time; zone not "
                               "available here)'))"), olympus
