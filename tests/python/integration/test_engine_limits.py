"""The limits bound a dump, every cut is recorded, and what was cut loads as a placeholder that says why.

tests/python/programs/engine_limits.py holds a 5000-item list, a 3000-entry dict, 10,003-character str and bytes,
50 instances and a crowd of one-element lists, and dumps with the limits it is given.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from engine_support import REPO, frame_named, run_program, run_python

import pyheapdump
from pyheapdump import Surrogate, surrogate_info


def dump_with(tmp_path: Path, crowd: int = 200_000, **limits: Any) -> tuple[pyheapdump.HeapDump, dict[str, Any]]:
    path = tmp_path / "limited.heapdump"
    run_program("engine_limits.py", path, json.dumps(limits), crowd, cwd=tmp_path)
    dump = pyheapdump.load_dump(path)
    return dump, frame_named(dump.current_thread.frames, "main").f_locals


def assert_cut_placeholder(obj: Any, module: str, qualname: str, limit: str) -> None:
    assert isinstance(obj, Surrogate), obj
    info = surrogate_info(obj)
    assert info is not None
    assert info.reason == "cut by a limit", info
    assert info.original == f"{module}.{qualname}", info
    assert limit in info.detail, info


def assert_marked_as_cut(value: Any, builtin: type, kept: int, original: int, limit: str) -> None:
    assert isinstance(value, builtin) and isinstance(value, Surrogate), type(value).__mro__
    info = surrogate_info(value)
    assert info is not None and info.reason == "cut by a limit", info
    assert info.original == f"builtins.{builtin.__qualname__}", info
    assert f"kept {kept:,} of {original:,}" in info.detail and limit in info.detail, info
    assert repr(value).endswith(f" not dumped: {limit}>"), repr(value)[-80:]
    assert f"<+{original - kept:,} more " in repr(value), repr(value)[-80:]


def test_max_items_keeps_the_first_items_of_a_long_container_and_records_the_cut(tmp_path: Path) -> None:
    dump, scene = dump_with(tmp_path, crowd=10, max_items=100)
    assert scene["long_list"] == list(range(100))
    assert list(scene["long_dict"].items()) == [(f"key-{i}", i) for i in range(100)]
    assert_marked_as_cut(scene["long_list"], list, 100, 5000, "max_items")
    assert_marked_as_cut(scene["long_dict"], dict, 100, 3000, "max_items")
    assert_marked_as_cut(scene["late_table"], dict, 100, 3000, "max_items")
    assert len(scene["items"]) == 50 and scene["items"][49].number == 49  # under the limit: all kept
    assert surrogate_info(scene["items"]) is None  # not cut: a plain list
    assert dump.metadata["cut"]["max_items"] == 3  # long_list, long_dict, late_table
    assert dump.metadata["limits_hit"] == ["max_items"]
    assert dump.metadata["limits"]["max_items"] == 100
    assert pyheapdump.read_header(dump.path)["limits_hit"] == ["max_items"]


def test_max_str_keeps_a_prefix_of_long_strings_and_bytes(tmp_path: Path) -> None:
    dump, scene = dump_with(tmp_path, crowd=10, max_str=50)
    assert scene["long_str"] == "s" * 50
    assert scene["long_bytes"] == b"b" * 50
    assert_marked_as_cut(scene["long_str"], str, 50, 10_003, "max_str")
    assert_marked_as_cut(scene["long_bytes"], bytes, 50, 10_003, "max_str")
    assert "+9,953 more characters not dumped: max_str>" in repr(scene["long_str"])
    assert dump.metadata["cut"]["max_str"] >= 2
    assert "max_str" in dump.metadata["limits_hit"]


def test_max_objects_stops_the_walk_and_the_rest_loads_as_placeholders_naming_their_class(tmp_path: Path) -> None:
    dump, scene = dump_with(tmp_path, max_objects=500)
    assert dump.metadata["objects"] < 500 + 100  # classes may pass the limit so that cut objects keep their name
    assert dump.metadata["limits_hit"] == ["max_objects"]
    assert dump.metadata["cut"]["max_objects"] > 200_000 - 500
    crowd = scene["crowd"]
    assert len(crowd) == 200_000  # the list was dumped; its elements were not
    assert_cut_placeholder(crowd[-1], "builtins", "list", "max_objects")
    assert_cut_placeholder(scene["items"][0], "__main__", "Item", "max_objects")
    assert crowd[-1] is not crowd[-2] and crowd[-1] != crowd[-2]  # each cut value is its own placeholder
    info = surrogate_info(crowd)
    assert info is not None and info.facts["items"] == 200_000 and info.facts["not_dumped"] > 199_000, info
    assert "max_objects" in repr(crowd[-1])
    assert dump.warnings == []


def test_time_limit_stops_the_walk_and_says_so(tmp_path: Path) -> None:
    dump, scene = dump_with(tmp_path, time_limit=0.01)
    assert dump.metadata["limits_hit"] == ["time_limit"]
    assert dump.metadata["cut"]["time_limit"] > 0
    assert dump.metadata["elapsed"] < 5
    crowd = scene["crowd"]
    cut = [item for item in crowd if isinstance(item, Surrogate)]
    assert cut, "a walk of 200,000 objects in 10 ms cut some of them"
    assert_cut_placeholder(cut[-1], "builtins", "list", "time_limit")
    kept = [item for item in crowd if not isinstance(item, Surrogate)]
    assert all(item == [crowd.index(item)] for item in kept[:100])
    assert dump.warnings == []


def test_max_bytes_stops_the_walk_and_cut_objects_still_name_their_class(tmp_path: Path) -> None:
    dump, scene = dump_with(tmp_path, crowd=50_000, max_bytes=200_000)
    assert dump.metadata["limits_hit"] == ["max_bytes"]
    # The walk stops at the line; naming what it cut may take an eighth more (at least 64 KiB), plus the classes.
    assert dump.metadata["bytes"] < 200_000 + 64 * 1024 + 8 * 1024
    assert dump.metadata["unwritten"] > 0, "past the allowance, cut objects get no record at all"
    cut = [surrogate_info(item) for item in scene["crowd"] if isinstance(item, Surrogate)]
    assert len(cut) > 1_000, "most of the crowd lies past the limit"
    assert {info.reason for info in cut} == {"cut by a limit"}
    assert any("max_bytes" in info.detail for info in cut)
    assert dump.warnings == []


def test_cut_records_share_one_reason_string(tmp_path: Path) -> None:
    """200,000 objects cut by a limit do not cost 200,000 more records."""
    dump, _ = dump_with(tmp_path, time_limit=0.01)
    assert dump.metadata["objects"] < 200_000 + 5_000 + 3_000 * 2 + 1_000


def test_a_time_limit_of_zero_writes_the_skeleton_alone(tmp_path: Path) -> None:
    dump, scene = dump_with(tmp_path, crowd=10, time_limit=0)
    assert pyheapdump.read_header(dump.path)["limits_hit"] == ["time_limit"]
    assert_code_names_kept(dump)
    assert {"long_list", "long_dict", "items", "crowd", "record"} <= set(scene)
    assert_cut_placeholder(scene["record"], "builtins", "dict", "time_limit")
    assert dump.warnings == []


def assert_code_names_kept(dump: pyheapdump.HeapDump) -> None:
    """Every frame of every thread names its code: the skeleton is written whatever the limits."""
    frames = [frame for thread in dump.threads for frame in thread.frames]
    assert frames
    for frame in frames:
        code = frame.f_code
        assert not isinstance(code.co_name, Surrogate) and code.co_name, code
        assert not isinstance(code.co_filename, Surrogate) and code.co_filename, code
        assert not isinstance(code.co_qualname, Surrogate) and code.co_qualname, code
    names = [frame.f_code.co_name for frame in dump.current_thread.frames]
    assert names == ["<module>", "main"], names
    assert dump.current_thread.frames[-1].f_code.co_filename.endswith("engine_limits.py")


def test_max_objects_never_cuts_the_names_of_the_stacks(tmp_path: Path) -> None:
    dump, scene = dump_with(tmp_path, crowd=10, max_objects=60)
    assert dump.metadata["limits_hit"] == ["max_objects"]
    assert_code_names_kept(dump)
    assert {"long_list", "long_dict", "items", "crowd", "record"} <= set(scene)


def assert_distinct_placeholders(values: list[Any], limit: str) -> None:
    assert len({id(value) for value in values}) == len(values)
    for value in values:
        assert_cut_placeholder(value, "builtins", "str", limit)
        assert value == value and hash(value) == hash(value)  # a placeholder equals itself
        assert all(value != other for other in values if other is not value)
        assert value != "" and "" != value and value not in {"", "id", "name"}
        assert limit in repr(value) and "builtins.str" in repr(value) and limit in str(value)


def test_cut_dict_keys_stay_distinct_and_the_dict_says_what_it_misses(tmp_path: Path) -> None:
    """{"id": 1000, "score": 0.0, "name": "n..."} with its strings cut: three entries, the kept values in place."""
    dump, scene = dump_with(tmp_path, crowd=10, max_objects=500)
    record = scene["record"]
    assert isinstance(record, dict) and isinstance(record, Surrogate)
    assert len(record) == 3
    original = {"id": 1000, "score": 0.0, "name": "n10"}
    cut_keys = [key for key in record if isinstance(key, Surrogate)]
    assert cut_keys, "max_objects=500 cuts the strings of a dict queued after 8,000 objects"
    assert_distinct_placeholders(cut_keys, "max_objects")
    for key, value in record.items():
        if not isinstance(key, Surrogate):
            assert value == original[key] or isinstance(value, Surrogate), (key, value)
    assert list(record.values())[:2] == [1000, 0.0]  # the kept values, in their places
    name = list(record.values())[2]
    assert_cut_placeholder(name, "builtins", "str", "max_objects")
    info = surrogate_info(record)
    assert info is not None and info.reason == "cut by a limit" and info.original == "builtins.dict", info
    assert info.facts["entries"] == 3 and info.facts["keys_not_dumped"] == len(cut_keys), info
    assert info.facts["values_not_dumped"] == 1 and info.facts["limit"] == "max_objects", info
    assert "max_objects" in info.detail and "of 3 entries" in info.detail, info
    assert repr(record).endswith("not dumped: max_objects>"), repr(record)
    assert record[cut_keys[0]] in (1000, 0.0) or isinstance(record[cut_keys[0]], Surrogate)


def test_cut_set_elements_stay_distinct_and_sequences_are_marked(tmp_path: Path) -> None:
    dump, scene = dump_with(tmp_path, crowd=10, max_objects=500)
    tags = scene["tags"]
    assert isinstance(tags, set) and isinstance(tags, Surrogate) and len(tags) == 3
    assert_distinct_placeholders(list(tags), "max_objects")
    info = surrogate_info(tags)
    assert info is not None and info.facts == {"items": 3, "not_dumped": 3, "limit": "max_objects"}, info
    assert repr(tags).startswith("{<builtins.str not dumped")
    assert repr(tags).endswith("<3 of 3 items not dumped: max_objects>")
    pair = scene["pair"]
    assert isinstance(pair, tuple) and len(pair) == 2 and pair[0] == 7
    assert_cut_placeholder(pair[1], "builtins", "str", "max_objects")
    assert surrogate_info(pair).facts == {"items": 2, "not_dumped": 1, "limit": "max_objects"}
    assert surrogate_info(scene["long_list"]) is None  # only ints: nothing was cut


def test_a_time_limit_that_passes_before_the_first_object_still_gives_the_threads(tmp_path: Path) -> None:
    """The root, the threads and their frames are written past the time limit; what the frames hold is cut."""
    dump, scene = dump_with(tmp_path, crowd=10, time_limit=1e-9)
    assert dump.metadata["limits_hit"] == ["time_limit"]
    assert dump.current_thread.frames[-1].f_code.co_name == "main"
    assert [frame.f_code.co_name for frame in dump.current_thread.frames] == ["<module>", "main"]
    assert {"long_list", "long_dict", "items", "crowd"} <= set(scene)  # the frame's names survive
    assert_cut_placeholder(scene["crowd"], "builtins", "list", "time_limit")
    assert_cut_placeholder(scene["long_dict"], "builtins", "dict", "time_limit")
    assert dump.metadata["objects"] < 500
    assert dump.warnings == []


def test_the_frame_given_to_save_dump_keeps_its_names_past_the_time_limit_but_not_its_values(tmp_path: Path) -> None:
    """The root's "frame" is skeleton, but what its locals hold is not, however close to the root it sits."""
    crowd = [[index] for index in range(1000)]
    path = tmp_path / "frame.heapdump"
    pyheapdump.save_dump(path, frame=sys._getframe(), threads=False, time_limit=1e-9)
    dump = pyheapdump.load_dump(path)
    assert dump.frame is not None and dump.frame.f_code.co_name == sys._getframe().f_code.co_name
    assert_cut_placeholder(dump.frame.f_locals["crowd"], "builtins", "list", "time_limit")
    assert len(crowd) == 1000


def test_unknown_limits_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="max_object"):
        pyheapdump.save_dump(tmp_path / "x.heapdump", max_object=10)
    assert list(tmp_path.iterdir()) == []


def test_traceback_locals_shows_what_a_cut_container_misses_within_the_bound(tmp_path: Path) -> None:
    """A local holding 200,000 elements, most cut, prints as its first elements and what is missing, never the whole
    repr cut at 200 characters (which dropped the marker at its end)."""
    dump, _ = dump_with(tmp_path, max_objects=500)
    result = run_python(["-m", "pyheapdump", "traceback", "--locals", str(dump.path)], cwd=REPO)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("crowd = "))
    value = line.strip().removeprefix("crowd = ")
    assert len(value) <= 200, value
    assert value.startswith("[<builtins.list not dumped: max_objects reached>, "), value
    assert value.endswith(" of 200,000 items not dumped: max_objects>"), value
    tags = next(line for line in result.stdout.splitlines() if line.strip().startswith("tags = "))
    assert tags.strip().endswith("<3 of 3 items not dumped: max_objects>"), tags
