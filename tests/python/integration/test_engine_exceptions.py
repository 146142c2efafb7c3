"""The handled exception comes back with its whole chain, its tracebacks and its own attributes.

tests/python/programs/engine_exceptions.py dumps while handling FileNotFoundError, raised while handling AppError
(a ValueError subclass of the program's __main__), itself raised `from` a KeyError; an ExceptionGroup sits in a local.
"""

from __future__ import annotations

from typing import Any

import pytest
from engine_support import PROGRAMS, frame_named, last_json_line, marked_line, run_program

import pyheapdump
from pyheapdump import Surrogate, surrogate_info

PROGRAM = PROGRAMS / "engine_exceptions.py"
MISSING_FILE = "/nonexistent-pyheapdump-dir/settings.ini"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[pyheapdump.HeapDump, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("exceptions")
    result = run_program("engine_exceptions.py", directory / "exc.heapdump", cwd=directory)
    return pyheapdump.load_dump(directory / "exc.heapdump"), last_json_line(result.stdout)


@pytest.fixture(scope="module")
def dump(loaded: tuple[pyheapdump.HeapDump, dict[str, Any]]) -> pyheapdump.HeapDump:
    return loaded[0]


def line(marker: str) -> int:
    return marked_line(PROGRAM, marker)


def test_the_handled_exception_is_a_real_os_error_with_its_filename_and_errno(loaded: Any) -> None:
    dump, facts = loaded
    exception = dump.exception
    assert type(exception) is FileNotFoundError
    assert exception.filename == MISSING_FILE
    assert exception.errno == facts["errno"] == 2
    assert str(exception) == facts["str"]
    assert exception.__suppress_context__ is False


def test_the_header_names_the_exception_in_one_line(loaded: Any) -> None:
    dump, facts = loaded
    assert dump.metadata["exception"] == f"FileNotFoundError: {facts['str']}"
    assert dump.metadata["reason"] == "exception"
    assert pyheapdump.read_header(dump.path)["exception"] == dump.metadata["exception"]


def test_a_user_exception_of_the_program_loads_as_a_surrogate_still_an_instance_of_its_builtin_base(
        dump: pyheapdump.HeapDump) -> None:
    context = dump.exception.__context__
    assert isinstance(context, ValueError)
    assert isinstance(context, Surrogate)
    assert (type(context).__module__, type(context).__qualname__) == ("__main__", "AppError")
    assert context.args == ("config incomplete", 17)
    assert context.code == 17  # instance __dict__ state
    info = surrogate_info(context)
    assert info is not None and info.reason == "not importable" and info.original == "__main__.AppError"
    with pytest.raises(ValueError):
        raise context  # a surrogate exception can still be raised and caught by its builtin base


def test_cause_context_suppress_context_and_notes_are_kept(dump: pyheapdump.HeapDump) -> None:
    context = dump.exception.__context__
    assert context.__notes__ == ["while starting the service"]
    assert context.__suppress_context__ is True  # raise ... from ...
    cause = context.__cause__
    assert type(cause) is KeyError and cause.args == ("port",)
    assert context.__context__ is cause  # raised while handling the KeyError, too
    assert cause.__cause__ is None and cause.__context__ is None


def test_the_traceback_frames_run_outermost_first_with_the_lines_the_exception_passed(
        dump: pyheapdump.HeapDump) -> None:
    frames = dump.traceback
    assert [(f.f_code.co_qualname, f.f_lineno) for f in frames] == [
        ("main", line("START_CALL_LINE")),
        ("start", line("FALLBACK_CALL_LINE")),
        ("read_fallback", line("OPEN_LINE")),
    ]
    assert frames[-1].f_locals["fallback_name"] == MISSING_FILE
    assert frames[0].f_back is None and frames[2].f_back is frames[1]


def test_every_exception_of_the_chain_has_its_own_traceback_entry(dump: pyheapdump.HeapDump) -> None:
    context = dump.exception.__context__
    cause = context.__cause__

    def lines(exception: BaseException) -> list[tuple[str, int]]:
        entry, out = dump.tracebacks[id(exception)], []
        while entry is not None:
            out.append((entry.tb_frame.f_code.co_qualname, entry.tb_lineno))
            entry = entry.tb_next
        return out

    assert lines(dump.exception) == [("main", line("START_CALL_LINE")), ("start", line("FALLBACK_CALL_LINE")),
                                     ("read_fallback", line("OPEN_LINE"))]
    assert lines(context) == [("start", line("LOAD_CALL_LINE")), ("load_config", line("CAUSE_LINE"))]
    assert lines(cause) == [("load_config", line("LOOKUP_CALL_LINE")), ("lookup", line("LOOKUP_LINE"))]


def test_an_exception_group_keeps_its_message_members_and_their_tracebacks(loaded: Any) -> None:
    dump, facts = loaded
    main = frame_named(dump.current_thread.frames, "main")
    group = main.f_locals["group"]
    assert type(group) is ExceptionGroup
    assert group.message == "gathered"
    assert len(group.exceptions) == facts["group_size"] == 2
    first, second = group.exceptions
    assert type(first) is TypeError and first.args == ("first member",)
    assert isinstance(second, ValueError) and isinstance(second, Surrogate) and second.code == 1
    assert type(second) is type(dump.exception.__context__)  # one surrogate class per original class
    assert dump.tracebacks[id(first)].tb_next.tb_lineno == line("MEMBER_RAISE_LINE")
    assert dump.tracebacks[id(second)].tb_next.tb_lineno == line("MEMBER_APP_RAISE_LINE")
    assert dump.tracebacks[id(group)].tb_lineno == line("GATHER_CALL_LINE")
    assert dump.tracebacks[id(group)].tb_next.tb_lineno == line("GROUP_RAISE_LINE")


def test_a_group_split_still_works_on_the_loaded_group(dump: pyheapdump.HeapDump) -> None:
    group = frame_named(dump.current_thread.frames, "main").f_locals["group"]
    matched, rest = group.split(TypeError)
    assert matched is not None and [type(e) for e in matched.exceptions] == [TypeError]
    assert rest is not None and len(rest.exceptions) == 1


def test_the_handled_exception_is_the_one_bound_in_the_dumping_frame(dump: pyheapdump.HeapDump) -> None:
    main = frame_named(dump.current_thread.frames, "main")
    assert main.f_lineno == line("DUMP_LINE")
    assert main.f_locals["handled"] is dump.exception
