"""Identity survives a dump: shared references stay shared, cycles stay cycles; and dumping changes nothing.

The dump is written by tests/python/programs/engine_scene.py in a separate process and loaded here.
The program checks its own state after save_dump and prints what it saw; these tests read that report.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import engine_support

import pyheapdump
from pyheapdump import Surrogate

# --- identity and cycles --------------------------------------------------------------------------------------------


def test_a_shared_reference_stays_one_object(scene: dict[str, Any]) -> None:
    holder = scene["holder"]
    assert holder.x is holder.y
    assert holder.x is scene["shared"]
    assert holder.x == ["shared list"]


def test_a_list_that_contains_itself_comes_back_containing_itself(scene: dict[str, Any]) -> None:
    self_list = scene["self_list"]
    assert len(self_list) == 1
    assert self_list[0] is self_list


def test_a_dict_that_contains_itself_comes_back_containing_itself(scene: dict[str, Any]) -> None:
    self_dict = scene["self_dict"]
    assert list(self_dict) == ["me"]
    assert self_dict["me"] is self_dict


def test_a_cycle_through_instances_is_kept(scene: dict[str, Any]) -> None:
    node_a, node_b = scene["node_a"], scene["node_b"]
    assert isinstance(node_a, Surrogate)
    assert node_a.other is node_b
    assert node_b.other is node_a
    assert (node_a.name, node_b.name) == ("a", "b")


def test_a_tuple_inside_a_list_inside_that_tuple_is_one_cycle(scene: dict[str, Any]) -> None:
    outer_tuple, inner_list = scene["outer_tuple"], scene["inner_list"]
    assert type(outer_tuple) is tuple
    assert outer_tuple[0] is inner_list
    assert inner_list[1] is outer_tuple
    assert outer_tuple[1] == "outer" and inner_list[0] == "inner"


def test_a_tuple_holding_an_instance_that_holds_the_tuple_is_one_cycle(dump: pyheapdump.HeapDump,
                                                                        scene: dict[str, Any]) -> None:
    # The instance's attributes are filled while the tuple is being made: the tuple must not be made twice, nor
    # reported as needing itself.
    tuple_of_node, node = scene["tuple_of_node"], scene["node_in_tuple"]
    assert type(tuple_of_node) is tuple
    assert tuple_of_node[0] is node
    assert node.other is tuple_of_node
    assert tuple_of_node[1] == [1, 2] and node.name == "in a tuple"
    assert not [warning for warning in dump.warnings if "needs itself" in warning], dump.warnings


def test_the_same_object_seen_from_two_frames_is_one_object(dump: pyheapdump.HeapDump) -> None:
    thread = dump.current_thread
    assert thread is not None
    outer, scene_frame = thread.frames[-2], thread.frames[-1]
    # outer's `report` dict is the `report` argument of scene()
    assert outer.f_locals["report"] is scene_frame.f_locals["report"]
    assert scene_frame.f_globals is outer.f_globals


def test_the_handled_exception_is_the_same_object_in_the_frame_and_in_the_dump(dump: pyheapdump.HeapDump,
                                                                              scene: dict[str, Any]) -> None:
    assert dump.exception is scene["handled"]
    assert scene["before"][1] is scene["handled"]  # sys.exc_info() taken before the dump


def test_a_class_shared_by_instances_is_one_surrogate_class(scene: dict[str, Any]) -> None:
    assert type(scene["node_a"]) is type(scene["node_b"])
    assert type(scene["plain"]) is scene["main_class_ref"]


# --- the dump does not change the dumped program ----------------------------------------------------------------------


def test_dumping_runs_no_property_and_no_getattr(scene_run: tuple[Path, dict[str, Any]]) -> None:
    assert scene_run[1]["side_effects"] == []


def test_dumping_adds_no_attribute_to_the_dumped_objects(scene_run: tuple[Path, dict[str, Any]]) -> None:
    report = scene_run[1]
    assert report["guarded_keys_unchanged"] is True
    assert report["plain_keys"] == ["label", "numbers"]
    assert report["slotted_unset_still_unset"] is True


def test_the_exception_being_handled_is_still_the_one_being_handled(scene_run: tuple[Path, dict[str, Any]]) -> None:
    report = scene_run[1]
    assert report["exc_info_unchanged"] is True
    assert report["still_handling"] is True


def test_the_switch_interval_is_restored_after_the_dump(scene_run: tuple[Path, dict[str, Any]]) -> None:
    assert scene_run[1]["switch_interval_restored"] is True


def test_a_dumped_generator_still_runs_where_it_was_suspended(scene_run: tuple[Path, dict[str, Any]]) -> None:
    assert scene_run[1]["generator_still_suspended"] is True


def test_save_dump_in_this_process_leaves_exc_info_and_objects_alone(tmp_path: Path) -> None:
    """The same guarantees, checked directly on live objects of this process."""
    touched: list[str] = []

    class Watched:
        def __init__(self) -> None:
            self.value = 1

        @property
        def computed(self) -> int:
            touched.append("computed")
            return 2

        def __getattr__(self, name: str) -> Any:
            touched.append(name)
            raise AttributeError(name)

        def __repr__(self) -> str:
            touched.append("__repr__")
            return "Watched()"

        def __reduce_ex__(self, protocol: Any) -> Any:
            touched.append("__reduce_ex__")
            raise AssertionError("the dumper called __reduce_ex__ of user code")

    watched = Watched()
    try:
        raise KeyError("being handled")
    except KeyError as error:
        before = sys_exc_info()
        path = pyheapdump.save_dump(tmp_path / "live.heapdump")
        assert sys_exc_info() == before
        assert before[1] is error
    assert touched == []
    assert vars(watched) == {"value": 1}
    loaded = pyheapdump.load_dump(path)
    assert loaded.exception is not None and loaded.exception.args == ("being handled",)
    frame = engine_support.frame_named(loaded.current_thread.frames, "test_save_dump_in_this_process_leaves_"
                                       "exc_info_and_objects_alone")
    assert frame.f_locals["watched"].value == 1


def sys_exc_info() -> tuple[Any, ...]:
    import sys

    return sys.exc_info()


class Ticket:
    """A type taught to pyheapdump whose capture function sends this process a signal, mid-dump."""

    def __init__(self, number: int) -> None:
        self.number = number


def test_a_dump_requested_by_a_signal_handler_during_a_dump_is_refused_not_deadlocked(tmp_path: Path) -> None:
    outcomes: list[str] = []

    def handler(signum: int, frame: Any) -> None:
        try:
            pyheapdump.save_dump(tmp_path / "nested.heapdump")
            outcomes.append("nested dump written")
        except pyheapdump.DumpInProgressError as error:
            outcomes.append(f"refused: {error}")

    def capture(ticket: Ticket) -> dict[str, int]:
        os.kill(os.getpid(), signal.SIGUSR1)  # the handler runs at the next bytecode of this function
        return {"number": ticket.number}

    support = pyheapdump.register_type(pyheapdump.TypeSupport(
        name="tests.engine.ticket", types=(Ticket,), capture=capture, rebuild=lambda state: Ticket(state["number"]),
        safe=True))
    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        ticket = Ticket(7)
        path = pyheapdump.save_dump(tmp_path / "outer.heapdump")
    finally:
        signal.signal(signal.SIGUSR1, previous)
        pyheapdump.unregister_type(support.name)
    assert len(outcomes) == 1 and outcomes[0].startswith("refused: a dump is already being written")
    assert not (tmp_path / "nested.heapdump").exists()
    loaded = pyheapdump.load_dump(path)
    frame = engine_support.frame_named(loaded.current_thread.frames, "test_a_dump_requested_by_a_signal_handler_"
                                       "during_a_dump_is_refused_not_deadlocked")
    assert frame.f_locals["ticket"].number == ticket.number
