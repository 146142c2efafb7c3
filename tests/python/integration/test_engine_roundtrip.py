"""Every object family of the dump engine survives a round trip: dumped by a separate program, loaded safely here.

The program is tests/python/programs/engine_scene.py; its `scene()` frame holds one object of each family.
The loading process is this one, where the program's __main__ does not exist: its classes come back as surrogates.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import http
import math
import pathlib
import re
import types
import uuid
from pathlib import Path
from typing import Any

import pytest
from engine_support import PROGRAMS, last_json_line, marked_line, run_program

import pyheapdump
from pyheapdump import Surrogate, surrogate_info
from pyheapdump.model import DumpedCode, DumpedFrame

# The scene fixtures, shared with the other engine tests.

SCENE = PROGRAMS / "engine_scene.py"


def same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


# --- atoms ------------------------------------------------------------------------------------------------------------


def test_a_dump_of_a_healthy_program_loads_without_warnings(dump: pyheapdump.HeapDump) -> None:
    assert dump.warnings == []
    assert dump.metadata["errors"] == 0
    assert dump.metadata["limits_hit"] == []


def test_singletons_and_bools_come_back_as_themselves(scene: dict[str, Any]) -> None:
    values = scene["values"]
    assert values["none"] is None
    assert values["true"] is True
    assert values["false"] is False
    assert values["ellipsis"] is Ellipsis
    assert values["not_implemented"] is NotImplemented


def test_ints_of_any_size_and_sign_keep_their_value(scene: dict[str, Any]) -> None:
    values = scene["values"]
    assert values["small"] == 12345
    assert values["negative"] == -98765
    assert values["huge"] == 3**200
    assert values["huge_negative"] == -(7**90)
    assert values["int64_edge"] == 2**63
    assert all(type(values[name]) is int for name in ("small", "negative", "huge", "huge_negative", "int64_edge"))


def test_floats_keep_nan_infinities_and_the_sign_of_zero(scene: dict[str, Any]) -> None:
    values = scene["values"]
    assert math.isnan(values["nan"])
    assert values["inf"] == math.inf
    assert values["minus_inf"] == -math.inf
    assert same_float(values["minus_zero"], -0.0)
    assert values["pi"] == 3.141592653589793
    assert values["complex"] == complex(1.5, -2.25) and type(values["complex"]) is complex


def test_strings_keep_non_bmp_characters_and_lone_surrogates(scene: dict[str, Any]) -> None:
    values = scene["values"]
    assert values["str"] == "plain ascii"
    assert values["unicode"] == "caf\u00e9 \u4e2d\u6587"
    assert values["non_bmp"] == "emoji \U0001f600 and \U00010348"
    assert values["lone_surrogate"] == "half \ud800 pair \udfff"
    assert values["empty"] == ""


def test_bytes_bytearray_range_and_slice_keep_their_value_and_type(scene: dict[str, Any]) -> None:
    values = scene["values"]
    assert values["bytes"] == b"\x00\x01binary\xff" and type(values["bytes"]) is bytes
    assert values["bytearray"] == bytearray(b"mutable bytes") and type(values["bytearray"]) is bytearray
    assert values["range"] == range(3, 30, 4)
    assert values["slice"] == slice(1, None, -2)


# --- containers and their subclasses ---------------------------------------------------------------------------------


def test_plain_containers_keep_their_contents(scene: dict[str, Any]) -> None:
    assert scene["plain_set"] == {1, 2, 3} and type(scene["plain_set"]) is set
    assert scene["plain_frozenset"] == frozenset({"a", "b"}) and type(scene["plain_frozenset"]) is frozenset
    assert scene["plain_tuple"] == (1, "two", None)
    assert list(scene["values"])[:3] == ["none", "true", "false"]  # dict order kept


def test_ordered_dict_keeps_the_order_move_to_end_gave_it(scene: dict[str, Any]) -> None:
    ordered = scene["ordered"]
    assert type(ordered) is collections.OrderedDict
    assert list(ordered.items()) == [("second", 2), ("third", 3), ("first", 1)]


def test_defaultdict_keeps_its_factory_and_still_works(scene: dict[str, Any]) -> None:
    by_default = scene["by_default"]
    assert type(by_default) is collections.defaultdict
    assert by_default.default_factory is list
    assert by_default == {"seen": [1]}
    by_default["new"].append(2)
    assert by_default["new"] == [2]


def test_counter_keeps_its_counts(scene: dict[str, Any]) -> None:
    counted = scene["counted"]
    assert type(counted) is collections.Counter
    assert counted == collections.Counter("mississippi")
    assert counted.most_common(1)[0][1] == 4


def test_deque_keeps_its_maxlen_and_the_kept_elements(scene: dict[str, Any]) -> None:
    bounded = scene["bounded"]
    assert type(bounded) is collections.deque
    assert bounded.maxlen == 4
    assert list(bounded) == [6, 7, 8, 9]
    bounded.append(10)
    assert list(bounded) == [7, 8, 9, 10]


def test_namedtuple_of_the_dumped_program_is_a_tuple_with_field_access(scene: dict[str, Any]) -> None:
    point = scene["point"]
    assert isinstance(point, tuple) and isinstance(point, Surrogate)
    assert tuple(point) == (3, -4)
    assert point.x == 3
    assert point.y == -4
    assert type(point).__qualname__ == "Point" and type(point).__module__ == "__main__"


def test_list_and_dict_subclasses_keep_contents_and_instance_attributes(scene: dict[str, Any]) -> None:
    tagged = scene["tagged"]
    assert isinstance(tagged, list) and list(tagged) == [1, "two", 3.0]
    assert tagged.tag == "list subclass state"
    assert type(tagged).__qualname__ == "TaggedList"
    tagged_dict = scene["tagged_dict"]
    assert isinstance(tagged_dict, dict) and dict(tagged_dict) == {"key": "value"}
    assert tagged_dict.note == "dict subclass state"


def test_str_and_int_subclass_instances_keep_their_value_and_state(scene: dict[str, Any]) -> None:
    user_name, count = scene["user_name"], scene["count"]
    assert isinstance(user_name, str) and user_name == "ada" and isinstance(user_name, Surrogate)
    assert type(user_name).__qualname__ == "UserName"
    assert user_name.verified is True
    assert isinstance(count, int) and count == 42 and type(count).__qualname__ == "Count"


def test_a_str_subclass_whose_pickling_is_the_programs_code_keeps_its_value_from_its_repr(
        scene: dict[str, Any], scene_run: tuple[Path, dict[str, Any]]) -> None:
    stateful_name = scene["stateful_name"]
    assert isinstance(stateful_name, str) and stateful_name == "bob"
    info = surrogate_info(stateful_name)
    assert info is not None and info.reason == "opaque" and info.repr == "'bob'"
    assert "__getstate__ ran" not in scene_run[1]["side_effects"]


def test_an_int_enum_member_of_the_program_keeps_its_value(scene: dict[str, Any]) -> None:
    level = scene["level"]
    assert isinstance(level, int) and level == 2
    assert (type(level).__module__, type(level).__qualname__) == ("__main__", "Level")


def test_the_enum_member_at_the_end_of_a_long_chain_keeps_its_name_and_value_in_both_modes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each link is a reduce whose state is a (None, slots) tuple. Filling one used to finish all its state reached,
    # one nesting level per link; past the core's nesting cap that state was left unfilled: the member at the end was
    # rebuilt from an empty dict (a surrogate that "did not load" its class) and, in a trusted load, links lost their
    # slots without a word. Links (the program's class) have their state set as the loader does; a Knot's own
    # __setstate__ (engine_chain_model, found by the trusted load) still has its whole state finished first, and past
    # the cap the core fills at least that state itself.
    length = 300
    monkeypatch.syspath_prepend(str(PROGRAMS))
    for kind, cls, enum_class in (("link", "Link", "Level"), ("knot", "Knot", "Tier")):
        path = tmp_path / f"{kind}.heapdump"
        report = last_json_line(run_program("engine_surrogate_chain.py", path, length, kind).stdout)
        for trusted in (False, True):
            dump = pyheapdump.load_dump(report["path"], trusted=trusted)
            assert dump.warnings == [], (kind, trusted)
            [link] = [frame.f_locals["head"] for thread in dump.threads for frame in thread.frames
                      if "head" in frame.f_locals]
            assert isinstance(link, Surrogate) is not trusted  # real links when trusted (Link: __main__ rebuilt)
            links = []
            while link is not None and len(links) <= length:
                links.append(link)
                link = getattr(link, "next", "the slot was lost")
            expected = [f"link{index}" for index in reversed(range(length))]
            assert [str(each) for each in links] == expected, (kind, trusted)
            level = links[-1].level
            assert isinstance(level, int) and level == 2 and level.name == "HIGH", (kind, trusted, repr(level))
            assert (type(level).__qualname__, type(links[-1]).__qualname__) == (enum_class, cls)
            assert all(each.level is None for each in links[:-1])


def test_a_setstate_deep_in_a_chain_reads_its_rows_filled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each Knot's own __setstate__ (a trusted load) derives a count from its level, a list of rows. Past the core's
    # nesting cap only the state itself used to be filled, not the lists it holds: the Knots that far down the chain
    # counted 0 leaves from empty rows, with no warning. A safe load sets no derived value but must keep the rows.
    length = 300
    monkeypatch.syspath_prepend(str(PROGRAMS))
    report = last_json_line(run_program("engine_surrogate_chain.py", tmp_path / "grid.heapdump", length, "grid").stdout)
    for trusted in (False, True):
        dump = pyheapdump.load_dump(report["path"], trusted=trusted)
        assert dump.warnings == [], trusted
        [link] = [frame.f_locals["head"] for thread in dump.threads for frame in thread.frames
                  if "head" in frame.f_locals]
        links = []
        while link is not None and len(links) <= length:
            links.append(link)
            link = getattr(link, "next", "the slot was lost")
        assert [str(each) for each in links] == [f"link{index}" for index in reversed(range(length))], trusted
        wrong_rows = [str(each) for each in links if each.level != [[int(each[4:])], [int(each[4:])] * 2]]
        assert wrong_rows == [], (trusted, wrong_rows[:5])
        wrong_counts = [(str(each), each.leaves) for each in links if each.leaves != 3]
        assert wrong_counts == [], (trusted, len(wrong_counts), wrong_counts[:5])


def test_a_set_subclass_keeps_contents_state_and_a_plain_repr(scene: dict[str, Any]) -> None:
    tag_set = scene["tag_set"]
    assert isinstance(tag_set, set) and tag_set == {"x", "y"}
    assert tag_set.note == "set subclass state"
    assert repr(tag_set) in ("TagSet({'x', 'y'})", "TagSet({'y', 'x'})")


# --- plain instances ------------------------------------------------------------------------------------------------


def test_plain_instance_state_comes_back_on_a_surrogate_named_like_its_class(scene: dict[str, Any]) -> None:
    plain = scene["plain"]
    assert isinstance(plain, Surrogate)
    assert (type(plain).__module__, type(plain).__qualname__, type(plain).__name__) == ("__main__", "Plain", "Plain")
    assert plain.label == "first plain"
    assert plain.numbers == [1, 2, 3]
    info = surrogate_info(plain)
    assert info is not None and info.original == "__main__.Plain" and info.reason == "not importable"


def test_slots_are_read_and_an_unset_slot_stays_absent(scene: dict[str, Any]) -> None:
    slotted = scene["slotted"]
    assert slotted.x == 10
    assert slotted.y == [20]
    assert not hasattr(slotted, "unset")


def test_the_dump_ran_no_property_and_no_getattr_of_the_program(scene_run: tuple[Path, dict[str, Any]],
                                                               scene: dict[str, Any]) -> None:
    report = scene_run[1]
    assert report["side_effects"] == []
    assert report["guarded_keys_unchanged"] is True
    guarded = scene["guarded"]
    assert guarded.visible == "state in __dict__"
    assert "expensive" not in vars(guarded)  # a property is not state


# --- objects that reduce --------------------------------------------------------------------------------------------


def test_stdlib_values_that_pickle_themselves_come_back_equal_and_real(scene: dict[str, Any]) -> None:
    stdlib = scene["stdlib"]
    tz = datetime.timezone(datetime.timedelta(hours=5, minutes=30), "IST")
    expected = {
        "datetime_tz": datetime.datetime(2024, 2, 29, 13, 45, 7, 123456, tzinfo=tz),
        "date": datetime.date(1999, 12, 31),
        "timedelta": datetime.timedelta(days=3, seconds=7, microseconds=11),
        "decimal": decimal.Decimal("-12345.678900"),
        "fraction": fractions.Fraction(-22, 7),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "pure_path": pathlib.PurePosixPath("/etc/hosts"),
        "path": pathlib.Path("/var/log/syslog"),
    }
    for name, value in expected.items():
        assert type(stdlib[name]) is type(value), name
        assert stdlib[name] == value, name
    assert stdlib["datetime_tz"].tzname() == "IST"
    assert str(stdlib["decimal"]) == "-12345.678900"  # the exponent survives, not only the value


def test_enum_members_of_stdlib_enums_are_the_members_themselves(scene: dict[str, Any]) -> None:
    assert scene["stdlib"]["regex_flag"] is re.RegexFlag.IGNORECASE
    assert scene["stdlib"]["http_status"] is http.HTTPStatus.NOT_FOUND


def test_regex_pattern_comes_back_compiled_and_usable(scene: dict[str, Any]) -> None:
    pattern = scene["stdlib"]["pattern"]
    assert isinstance(pattern, re.Pattern)
    assert pattern.flags & re.IGNORECASE
    match = pattern.match("HELLO-42")
    assert match is not None and match.group("word") == "HELLO"


# --- functions, classes, modules ------------------------------------------------------------------------------------


def test_function_keeps_name_qualname_module_defaults_and_code_location(scene: dict[str, Any]) -> None:
    function = scene["function"]
    assert function.__name__ == "module_function"
    assert function.__qualname__ == "module_function"
    assert function.__module__ == "__main__"
    assert function.__defaults__ == (2,)
    assert function.__kwdefaults__ == {"c": 3}
    assert function.__code__.co_filename == str(SCENE)
    assert function.__code__.co_firstlineno == marked_line(SCENE, "MODULE_FUNCTION_LINE")
    assert function.__code__.co_varnames[:3] == ("a", "b", "c")
    info = surrogate_info(function)
    assert info is not None and info.original == "__main__.module_function"
    with pytest.raises(pyheapdump.RebuildError, match="trusted=True"):
        function(1)


def test_lambda_keeps_its_qualname_and_defaults(scene: dict[str, Any]) -> None:
    lam = scene["lam"]
    assert lam.__name__ == "<lambda>"
    assert lam.__qualname__ == "scene.<locals>.<lambda>"
    assert lam.__defaults__ == (5,)


def test_closure_cells_hold_the_captured_values(scene: dict[str, Any]) -> None:
    closure = scene["closure"]
    assert closure.__qualname__ == "make_closure.<locals>.inner"
    assert closure.__defaults__ == (10,)
    contents = sorted((cell.cell_contents for cell in closure.__closure__), key=repr)
    assert contents == [7, ["captured", "by", "closure"]]
    assert all(isinstance(cell, types.CellType) for cell in closure.__closure__)


def test_bound_method_keeps_its_function_and_its_instance(scene: dict[str, Any]) -> None:
    bound = scene["bound"]
    assert bound.__self__ is scene["plain"]
    assert bound.__func__.__qualname__ == "Plain.describe"
    info = surrogate_info(bound)
    assert info is not None and info.original == "__main__.Plain.describe"


def test_builtin_functions_stdlib_classes_and_modules_come_back_by_reference(scene: dict[str, Any]) -> None:
    import json

    assert scene["builtin"] is len
    assert scene["class_ref"] is collections.OrderedDict
    assert scene["module_ref"] is json


def test_a_class_of_the_dumped_main_comes_back_as_a_surrogate_class_with_its_attributes(
        scene: dict[str, Any]) -> None:
    cls = scene["main_class_ref"]
    assert isinstance(cls, type) and issubclass(cls, Surrogate)
    assert (cls.__module__, cls.__qualname__) == ("__main__", "Plain")
    assert cls is type(scene["plain"])
    assert cls.describe.__qualname__ == "Plain.describe"
    info = surrogate_info(cls)
    assert info is not None and info.reason == "not importable"


# --- frames, generators, coroutines, cells, tracebacks --------------------------------------------------------------


def test_frames_keep_locals_globals_line_numbers_and_back_links(dump: pyheapdump.HeapDump) -> None:
    thread = dump.current_thread
    assert thread is not None
    qualnames = [frame.f_code.co_qualname for frame in thread.frames]
    assert qualnames == ["<module>", "outer", "scene"]
    module, outer, scene = thread.frames
    assert scene.f_lineno == marked_line(SCENE, "DUMP_LINE")
    assert outer.f_lineno == marked_line(SCENE, "SCENE_CALL_LINE")
    assert module.f_lineno == marked_line(SCENE, "OUTER_CALL_LINE")
    assert scene.f_back is outer and outer.f_back is module and module.f_back is None
    assert outer.f_locals["outer_marker"] == "the caller's local"
    assert scene.f_globals is outer.f_globals
    assert scene.f_globals["GLOBAL_CONSTANT"] == "a module global of the dumped program"
    assert scene.f_code.co_filename == str(SCENE)
    assert scene.f_code.co_name == "scene"
    assert isinstance(scene.f_code, DumpedCode)
    assert scene.f_code.co_firstlineno == marked_line(SCENE, "SCENE_DEF_LINE")


def test_the_sources_of_dumped_code_travel_with_the_dump(dump: pyheapdump.HeapDump) -> None:
    assert dump.sources[str(SCENE)] == SCENE.read_text()


def test_a_suspended_generator_keeps_its_frame_locals_and_line(scene: dict[str, Any]) -> None:
    generator = scene["suspended_generator"]
    assert generator.__qualname__ == "counter"
    assert generator.gi_suspended is True and generator.gi_running is False
    frame = generator.gi_frame
    assert isinstance(frame, DumpedFrame)
    assert frame.f_lineno == marked_line(SCENE, "GENERATOR_YIELD_LINE")
    assert frame.f_locals == {"limit": 5, "total": 1, "step": 1}
    assert generator.gi_code.co_name == "counter"


def test_a_suspended_coroutine_keeps_its_frame_and_what_it_awaits(scene: dict[str, Any]) -> None:
    coroutine = scene["suspended_coroutine"]
    assert coroutine.__qualname__ == "waiter"
    assert coroutine.cr_suspended is True
    assert coroutine.cr_frame.f_locals == {"tag": "the tag", "waiting_for": "the tag"}
    assert coroutine.cr_frame.f_lineno == marked_line(SCENE, "COROUTINE_AWAIT_LINE")
    awaited = coroutine.cr_await  # the generator Suspend.__await__ returned, suspended at its yield
    assert awaited.gi_frame.f_code.co_qualname == "Suspend.__await__"


def test_cells_keep_their_contents_and_an_empty_cell_stays_empty(scene: dict[str, Any]) -> None:
    assert scene["cell"].cell_contents == ["cell", "contents"]
    with pytest.raises(ValueError):
        scene["empty_cell"].cell_contents  # noqa: B018 - reading an empty cell raises


def test_the_handled_exception_comes_with_its_traceback_frames_outermost_first(dump: pyheapdump.HeapDump,
                                                                               scene: dict[str, Any]) -> None:
    exception = dump.exception
    assert isinstance(exception, ValueError)
    assert exception is scene["handled"]
    assert exception.args == ("handled in the scene", "in the failing frame")
    frames = dump.traceback
    assert [frame.f_code.co_qualname for frame in frames] == ["scene", "raise_with_traceback"]
    assert frames[0].f_lineno == marked_line(SCENE, "TB_CALL_LINE")
    assert frames[1].f_lineno == marked_line(SCENE, "TB_RAISE_LINE")
    assert frames[1].f_locals == {"failing_local": "in the failing frame"}
    assert frames[1].f_back is frames[0]
    entry = dump.tracebacks[id(exception)]
    assert entry.tb_lineno == marked_line(SCENE, "TB_CALL_LINE")
    assert entry.tb_next is not None and entry.tb_next.tb_next is None
    assert entry.tb_next.tb_frame.f_code.co_name == "raise_with_traceback"
