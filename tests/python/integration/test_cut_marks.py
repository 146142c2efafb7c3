"""A container whose values a limit left out says so, whichever limit did it, and counts each cut once.

tests/python/programs/engine_limits.py (see test_engine_limits.py) holds a 3000-entry dict of str keys, a crowd of
one-element lists, and `record`, `tags`, `pair`, whose strings are queued after the crowd. Dumped by a separate
process with each walk-wide limit, loaded by `load_dump` and shown by `pyheapdump traceback --locals`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from engine_support import REPO, frame_named, run_program, run_python

import pyheapdump
from pyheapdump import Surrogate, surrogate_info

CUT = "cut by a limit"


def dump_with(directory: Path, crowd: int, **limits: Any) -> tuple[pyheapdump.HeapDump, dict[str, Any]]:
    path = directory / "limited.heapdump"
    run_program("engine_limits.py", path, json.dumps(limits), crowd, cwd=directory)
    dump = pyheapdump.load_dump(path)
    return dump, frame_named(dump.current_thread.frames, "main").f_locals


def placeholders(values: Any) -> list[Any]:
    found = [value for value in values if isinstance(value, Surrogate)]
    for value in found:
        info = surrogate_info(value)
        assert info is not None and info.reason == CUT, info
    return found


def assert_distinct(cut: list[Any], limit: str) -> None:
    assert len({id(value) for value in cut}) == len(cut)
    for value in cut:
        assert all(value != other for other in cut if other is not value)
        assert value == value
        assert f"not dumped: {limit} reached" in repr(value), repr(value)
        assert limit in surrogate_info(value).detail


def locals_lines(path: Path) -> dict[str, str]:
    result = run_python(["-m", "pyheapdump", "traceback", "--locals", str(path)], cwd=REPO)
    assert result.returncode == 0, result.stderr
    lines = {}
    for line in result.stdout.splitlines():
        name, equals, value = line.strip().partition(" = ")
        if equals and name.isidentifier():
            lines[name] = value
    return lines


# ---- a container cut by max_items that also holds values max_objects left out ----


@pytest.fixture(scope="module")
def items_and_objects(tmp_path_factory: pytest.TempPathFactory) -> tuple[pyheapdump.HeapDump, dict[str, Any]]:
    return dump_with(tmp_path_factory.mktemp("items_and_objects"), 200_000, max_items=1000, max_objects=500)


def test_a_dict_cut_by_max_items_counts_the_kept_keys_that_max_objects_left_out(
        items_and_objects: tuple[pyheapdump.HeapDump, dict[str, Any]]) -> None:
    dump, scene = items_and_objects
    assert sorted(dump.metadata["limits_hit"]) == ["max_items", "max_objects"]
    table = scene["long_dict"]
    assert isinstance(table, dict) and len(table) == 1000
    cut_keys = placeholders(table)
    assert 0 < len(cut_keys) < 1000, "the keys queued past 500 objects are cut, the first ones are not"
    assert_distinct(cut_keys, "max_objects")
    assert list(table.values()) == list(range(1000))  # every kept value under its own key
    kept_keys = [key for key in table if not isinstance(key, Surrogate)]
    assert kept_keys == [f"key-{index}" for index in range(len(kept_keys))]
    info = surrogate_info(table)
    assert info is not None and info.reason == CUT and info.original == "builtins.dict", info
    assert info.facts == {"kept": 1000, "missing": 2000, "length": 3000, "limit": "max_items",
                          "keys_not_dumped": len(cut_keys), "values_not_dumped": 0,
                          "not_dumped_limit": "max_objects"}, info
    assert info.detail == (f"kept 1,000 of 3,000 items: max_items reached; {len(cut_keys)} keys of the 1,000 kept "
                           "entries not dumped: max_objects"), info
    assert repr(table).endswith(f" <+2,000 more items not dumped: max_items; {len(cut_keys)} keys of the 1,000 "
                                "kept entries not dumped: max_objects>"), repr(table)[-200:]


def test_a_list_cut_by_max_items_counts_its_placeholders_once(
        items_and_objects: tuple[pyheapdump.HeapDump, dict[str, Any]]) -> None:
    _, scene = items_and_objects
    crowd = scene["crowd"]
    assert isinstance(crowd, list) and len(crowd) == 1000
    cut = placeholders(crowd)
    assert len(cut) == 1000
    assert_distinct(cut[:50], "max_objects")
    assert surrogate_info(cut[0]).original == "builtins.list"
    info = surrogate_info(crowd)
    assert info.facts == {"kept": 1000, "missing": 199_000, "length": 200_000, "limit": "max_items",
                          "not_dumped": 1000, "not_dumped_limit": "max_objects"}, info
    assert "kept 1,000 of 200,000 items: max_items reached" in info.detail
    assert "1,000 of the 1,000 kept items not dumped: max_objects" in info.detail
    # Untouched by max_items: marked as before, by max_objects alone.
    assert surrogate_info(scene["record"]).facts == {"entries": 3, "keys_not_dumped": 2, "values_not_dumped": 1,
                                                     "limit": "max_objects"}


def test_traceback_locals_shows_both_cuts_of_a_container(
        items_and_objects: tuple[pyheapdump.HeapDump, dict[str, Any]]) -> None:
    dump, _ = items_and_objects
    lines = locals_lines(dump.path)
    crowd = lines["crowd"]
    assert len(crowd) <= 200, crowd
    assert crowd.startswith("[<builtins.list not dumped: max_objects reached>, "), crowd
    assert crowd.endswith(" <kept 1,000 of 200,000 items: max_items reached; 1,000 of the 1,000 kept items not "
                          "dumped: max_objects>"), crowd
    assert "keys of the 1,000 kept entries not dumped: max_objects>" in lines["long_dict"], lines["long_dict"]


# ---- values left out because time_limit or max_bytes stopped the walk ----


@pytest.fixture(scope="module")
def timed_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[pyheapdump.HeapDump, dict[str, Any]]:
    return dump_with(tmp_path_factory.mktemp("timed_out"), 200_000, time_limit=0.01)


@pytest.fixture(scope="module")
def bytes_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[pyheapdump.HeapDump, dict[str, Any]]:
    return dump_with(tmp_path_factory.mktemp("bytes_out"), 50_000, max_bytes=200_000)


def test_a_dict_whose_keys_the_time_limit_cut_keeps_every_entry_and_says_so(
        timed_out: tuple[pyheapdump.HeapDump, dict[str, Any]]) -> None:
    dump, scene = timed_out
    assert dump.metadata["limits_hit"] == ["time_limit"]
    record = scene["record"]  # {"id": 1000, "score": 0.0, "name": "n200000"}, its strings queued after the crowd
    assert isinstance(record, dict) and len(record) == 3
    cut_keys = placeholders(record)
    assert len(cut_keys) == 2
    assert_distinct(cut_keys, "time_limit")
    assert list(record.values())[:2] == [1000, 0.0]
    assert placeholders(record.values()) == [record["name"]]
    info = surrogate_info(record)
    assert info is not None and info.reason == CUT and info.original == "builtins.dict", info
    assert info.facts == {"entries": 3, "keys_not_dumped": 2, "values_not_dumped": 1, "limit": "time_limit"}, info
    assert info.detail == "2 keys and 1 value of 3 entries not dumped: time_limit", info


def test_sets_tuples_and_lists_the_time_limit_cut_keep_their_length_and_say_so(
        timed_out: tuple[pyheapdump.HeapDump, dict[str, Any]]) -> None:
    _, scene = timed_out
    # late_table, not long_dict: long_dict's keys are queued before the crowd, and a fast machine writes them all
    # within the time limit (CI did); late_table's keys are queued after the crowd's 200,000 lists.
    tags, pair, table, crowd = scene["tags"], scene["pair"], scene["late_table"], scene["crowd"]
    assert isinstance(tags, set) and len(tags) == 3
    assert_distinct(placeholders(tags), "time_limit")
    assert surrogate_info(tags).facts == {"items": 3, "not_dumped": 3, "limit": "time_limit"}
    assert isinstance(pair, tuple) and len(pair) == 2 and pair[0] == 7
    assert surrogate_info(pair).facts == {"items": 2, "not_dumped": 1, "limit": "time_limit"}
    assert len(table) == 3000, "cut keys never merge"
    cut_keys = placeholders(table)
    assert cut_keys and surrogate_info(table).facts["keys_not_dumped"] == len(cut_keys)
    assert list(table.values()) == list(range(3000))
    cut = placeholders(crowd)
    assert len(crowd) == 200_000 and cut
    assert surrogate_info(crowd).facts == {"items": 200_000, "not_dumped": len(cut), "limit": "time_limit"}
    assert surrogate_info(cut[-1]).original == "builtins.list"
    assert_distinct(cut[-20:], "time_limit")
    kept = [item for item in crowd if not isinstance(item, Surrogate)]
    assert kept == [[index] for index in range(len(kept))]  # a limit may lose values, never change them


def test_traceback_locals_says_what_the_time_limit_cut(
        timed_out: tuple[pyheapdump.HeapDump, dict[str, Any]]) -> None:
    dump, _ = timed_out
    lines = locals_lines(dump.path)
    assert lines["record"].endswith(" <2 keys and 1 value of 3 entries not dumped: time_limit>"), lines["record"]
    assert "<builtins.str not dumped: time_limit reached>" in lines["record"], lines["record"]
    assert lines["tags"].endswith(" <3 of 3 items not dumped: time_limit>"), lines["tags"]
    assert lines["crowd"].endswith(" of 200,000 items not dumped: time_limit>"), lines["crowd"]


def test_containers_of_values_max_bytes_left_out_keep_their_length_and_say_so(
        bytes_out: tuple[pyheapdump.HeapDump, dict[str, Any]]) -> None:
    dump, scene = bytes_out
    assert dump.metadata["limits_hit"] == ["max_bytes"]
    assert dump.metadata["unwritten"] > 0, "some cut objects have no record at all: they are counted too"
    table, crowd = scene["long_dict"], scene["crowd"]
    assert len(table) == 3000 and list(table.values()) == list(range(3000))
    cut_keys = placeholders(table)
    assert cut_keys, "max_bytes=200,000 cuts strings queued before the stop"
    assert_distinct(cut_keys[-20:], "max_bytes")
    assert surrogate_info(table).facts == {"entries": 3000, "keys_not_dumped": len(cut_keys),
                                           "values_not_dumped": 0, "limit": "max_bytes"}
    cut = placeholders(crowd)
    assert len(crowd) == 50_000 and len(cut) > 1000
    assert surrogate_info(crowd).facts == {"items": 50_000, "not_dumped": len(cut), "limit": "max_bytes"}
    assert_distinct(cut[-20:], "max_bytes")
    lines = locals_lines(dump.path)
    assert lines["crowd"].endswith(" of 50,000 items not dumped: max_bytes>"), lines["crowd"]
    assert lines["long_dict"].endswith(" keys of 3,000 entries not dumped: max_bytes>"), lines["long_dict"]
    assert dump.warnings == []


def test_an_object_cut_by_the_stop_is_one_placeholder_wherever_it_is_referenced(tmp_path: Path) -> None:
    """A cut record stands for one object: two references to it load as the same placeholder."""
    program = tmp_path / "shared.py"
    program.write_text(
        "import sys\nimport pyheapdump\n"
        "def main(path):\n"
        "    crowd = [[index] for index in range(200_000)]\n"
        "    shared = {'token': 'abc'}\n"
        "    holders = [shared, shared, shared]\n"
        "    del shared\n"
        "    pyheapdump.save_dump(path, time_limit=0.01)\n"
        "    return crowd, holders\n"
        "main(sys.argv[1])\n")
    path = tmp_path / "shared.heapdump"
    result = run_python([str(program), str(path)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    dump = pyheapdump.load_dump(path)
    holders = frame_named(dump.current_thread.frames, "main").f_locals["holders"]
    assert len(holders) == 3 and holders[0] is holders[1] is holders[2], "one object, one placeholder"
    assert isinstance(holders[0], dict) and surrogate_info(holders[0]).original == "builtins.dict"
    assert "time_limit" in repr(holders[0])
    assert surrogate_info(holders).facts == {"items": 3, "not_dumped": 3, "limit": "time_limit"}
