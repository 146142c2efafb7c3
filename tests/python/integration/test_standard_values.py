"""Standard values a debugger user reads every day, defined by the program (enums, namedtuples) or by the standard
library but not picklable (a datetime in a ZoneInfo zone, memoryview, re.Match, weak references): loaded safely
(no program code runs, nothing outside the standard library's allow-list imported) they still read as themselves.

The dumps are written by tests/python/programs/real_values.py in a separate process.
"""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from engine_support import child_env, frame_named, last_json_line, run_program

import pyheapdump

PROGRAM = "real_values.py"


@pytest.fixture(scope="module")
def dumped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("values") / "values.phd"
    result = run_program(PROGRAM, path)
    return path, last_json_line(result.stdout)


def scene_locals(path: Path, trusted: bool) -> dict[str, Any]:
    dump = pyheapdump.load_dump(path, trusted=trusted)
    return frame_named(dump.threads[0].frames, "scene").f_locals


@pytest.fixture(scope="module", params=[False, True], ids=["safe", "trusted"])
def scene(request: pytest.FixtureRequest, dumped: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return scene_locals(dumped[0], trusted=request.param)


def test_dumping_ran_no_code_of_the_program(dumped):
    assert dumped[1]["side_effects"] == []


def test_safe_load_imports_nothing_of_the_program(dumped):
    code = (
        "import sys, pyheapdump\n"
        f"d = pyheapdump.load_dump({str(dumped[0])!r})\n"
        "frame = [f for f in d.threads[0].frames if f.f_code.co_name == 'scene'][-1]\n"
        "print(repr(frame.f_locals['color']), repr(frame.f_locals['point']))\n"
        "print('__pyheapdump_main__' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env(),
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["<Color.GREEN: 2> Point(x=1, y=2)", "False"]


def test_enum_members_keep_their_names_and_values(scene):
    color, priority, perm, mode, shade = (scene[name] for name in ("color", "priority", "perm", "mode", "shade"))
    assert repr(color) == "<Color.GREEN: 2>"
    assert str(color) == "Color.GREEN"
    assert (color.name, color.value) == ("GREEN", 2)
    assert type(color).__name__ == "Color"
    assert color is scene["color"]

    assert repr(priority) == "<Priority.HIGH: 3>"
    assert priority == 3 and priority + 1 == 4 and isinstance(priority, int)
    assert (priority.name, priority.value) == ("HIGH", 3)

    assert repr(perm) == "<Perm.R|W: 3>"
    assert str(perm) == "Perm.R|W"
    assert perm.value == 3

    assert repr(mode) == "<Mode.READ|WRITE: 6>"
    assert mode == 6 and mode & 4 == 4

    assert repr(shade) == "<Shade.DARK: 'dark'>"
    assert shade == "dark" and shade.upper() == "DARK"
    assert shade.name == "DARK"


def test_safe_enum_members_are_surrogates_of_the_programs_class(dumped):
    scene = scene_locals(dumped[0], trusted=False)
    info = pyheapdump.surrogate_info(scene["color"])
    assert info is not None and info.original == "__main__.Color"
    # An enum whose repr, property and _missing_ are the program's code shows its member all the same.
    assert repr(scene["loud"]) == "<Loud.ONE: 1>"
    assert scene["loud"].name == "ONE"


def test_trusted_enum_members_of_the_dumped_main_read_as_in_a_safe_load(dumped):
    # A trusted load never imports the dumped __main__ script, and an Enum class cannot be remade without running
    # its metaclass: its members load as the safe load shows them, never worse, and the reason says why.
    scene = scene_locals(dumped[0], trusted=True)
    color = scene["color"]
    assert repr(color) == "<Color.GREEN: 2>" and color.name == "GREEN" and color.value == 2
    assert pyheapdump.surrogate_info(color).reason != "not trusted"


def test_datetimes_keep_their_zoneinfo_zone(scene):
    paris, new_york = scene["paris"], scene["new_york"]
    assert type(paris) is datetime.datetime
    assert (paris.hour, paris.minute) == (14, 30)
    assert paris.tzinfo.key == "Europe/Paris"
    assert paris.utcoffset() == datetime.timedelta(hours=2)
    assert new_york.tzinfo.key == "America/New_York"
    assert new_york.utcoffset() == datetime.timedelta(hours=-5)
    assert repr(paris) == ("datetime.datetime(2024, 7, 1, 14, 30, "
                           "tzinfo=zoneinfo.ZoneInfo(key='Europe/Paris'))")


def test_a_zone_missing_from_the_loading_machine_comes_from_the_dumped_tz_data(dumped):
    code = (
        "import sys\n"
        "sys.modules['tzdata'] = None\n"  # no tzdata package, no system tz database: the key is unknown here
        "import zoneinfo\n"
        "zoneinfo.reset_tzpath(to=[])\n"
        "try:\n"
        "    zoneinfo.ZoneInfo('Europe/Paris')\n"
        "    raise SystemExit('the zone is still known')\n"
        "except zoneinfo.ZoneInfoNotFoundError:\n"
        "    pass\n"
        "import pyheapdump\n"
        f"d = pyheapdump.load_dump({str(dumped[0])!r})\n"
        "frame = [f for f in d.threads[0].frames if f.f_code.co_name == 'scene'][-1]\n"
        "paris = frame.f_locals['paris']\n"
        "print(paris.tzinfo.key, paris.utcoffset(), paris.hour, paris.tzname())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env(),
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["Europe/Paris", "2:00:00", "14", "CEST"]


def test_namedtuples_show_their_fields(scene):
    point, pair = scene["point"], scene["pair"]
    assert repr(point) == "Point(x=1, y=2)"
    assert (point.x, point.y) == (1, 2)
    assert point == (1, 2) and point[0] == 1 and len(point) == 2
    assert point._asdict() == {"x": 1, "y": 2}
    assert repr(pair) == "Pair(left=7, right='seven')"
    assert pair.right == "seven"


def test_safe_namedtuple_ignores_the_programs_repr(dumped):
    scene = scene_locals(dumped[0], trusted=False)
    assert repr(scene["loud_point"]) == "LoudPoint(a=3, b=4)"


def test_memoryview_is_a_real_view_of_the_dumped_bytes(scene):
    view = scene["view"]
    assert isinstance(view, memoryview)
    assert bytes(view) == b"hello"
    assert (view.format, view.shape, view.readonly) == ("B", (5,), False)


def test_re_match_answers_from_its_groups(scene):
    match = scene["match"]
    assert repr(match) == "<re.Match object; span=(6, 13), match='world42'>"
    assert match.group() == "world42" and match.group(0) == "world42"
    assert match.group(1) == "world" and match.group("word") == "world"
    assert match.groups() == ("world", "42")
    assert match.groupdict() == {"word": "world"}
    assert match.span() == (6, 13) and match.span(2) == (11, 13)
    assert match.start(1) == 6 and match.end(1) == 11
    assert match[1] == "world"
    assert match.string == "hello world42"
    assert match.re.pattern == r"(?P<word>w[a-z]+)(\d*)"


def test_weak_references_lead_to_their_referent(scene):
    alive = scene["alive"]
    assert scene["live_ref"]() is alive
    assert scene["dead_ref"]() is None
    assert repr(scene["dead_ref"]) == "<weakref; dead>"
    assert repr(scene["live_ref"]).startswith("<weakref to Node: ")
    assert scene["proxy"].label == "alive"
    assert repr(scene["proxy"]).startswith("<weakproxy to Node: ")


def test_weak_containers_keep_their_items(scene):
    alive = scene["alive"]
    assert dict(scene["cache"]) == {"alive": alive}
    assert scene["cache"]["alive"] is alive
    assert repr(scene["cache"]).startswith("WeakValueDictionary({'alive': ")
    assert scene["keyed"][alive] == "value of alive"
    assert list(scene["members"]) == [alive]


def test_weak_references_in_cycles_load(dumped, scene):
    assert scene["looped_ref"]() is scene["looped"]
    assert scene["looped"].back is scene["looped_ref"]
    registry = scene["registry"]
    assert list(registry) == ["self"]
    assert registry["self"].args[0] is registry
    assert not any("needs itself" in problem for problem in pyheapdump.load_dump(dumped[0]).warnings)


def test_weakref_subclass_overriding_call_stays_opaque(dumped):
    # The program's __call__ could not run at dump time, so the reference is not followed.
    scene = scene_locals(dumped[0], trusted=False)
    info = pyheapdump.surrogate_info(scene["loud_ref"])
    assert info is not None and info.original == "__main__.LoudRef"


@pytest.mark.parametrize("where", ["here", "bare venv"])
def test_cli_traceback_locals_show_the_values(dumped, where, request):
    python = sys.executable if where == "here" else request.getfixturevalue("bare_python")
    result = subprocess.run([str(python), "-m", "pyheapdump", "traceback", "--locals", str(dumped[0])],
                            capture_output=True, text=True, env=child_env(), timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in ("color = <Color.GREEN: 2>", "priority = <Priority.HIGH: 3>", "perm = <Perm.R|W: 3>",
                 "point = Point(x=1, y=2)", "pair = Pair(left=7, right='seven')",
                 "tzinfo=zoneinfo.ZoneInfo(key='Europe/Paris')", "dead_ref = <weakref; dead>",
                 "match = <re.Match object; span=(6, 13), match='world42'>"):
        assert text in out, f"{text!r} not in\n{out}"
