"""A dump holds every thread: names, idents, daemon flags, stacks and locals; threads=False holds only the caller.

tests/python/programs/engine_threads.py starts three workers blocked on an Event and dumps from its main thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_support import PROGRAMS, frame_named, last_json_line, marked_line, run_program

import pyheapdump

PROGRAM = PROGRAMS / "engine_threads.py"


def dump_threads(tmp_path: Path, *flags: str) -> tuple[pyheapdump.HeapDump, dict[str, dict[str, Any]]]:
    result = run_program("engine_threads.py", tmp_path / "threads.heapdump", *flags, cwd=tmp_path)
    started = {entry["name"]: entry for entry in last_json_line(result.stdout)}
    return pyheapdump.load_dump(tmp_path / "threads.heapdump"), started


@pytest.fixture(scope="module")
def all_threads(tmp_path_factory: pytest.TempPathFactory) -> tuple[pyheapdump.HeapDump, dict[str, dict[str, Any]]]:
    return dump_threads(tmp_path_factory.mktemp("threads"))


def test_every_thread_is_dumped_with_its_name_ident_and_daemon_flag(all_threads: Any) -> None:
    dump, started = all_threads
    dumped = {thread.name: thread for thread in dump.threads}
    assert set(dumped) == set(started)
    for name, facts in started.items():
        assert dumped[name].ident == facts["ident"], name
        assert dumped[name].daemon is facts["daemon"], name
        assert dumped[name].kind == "thread"
    assert dump.metadata["threads"] == 4


def test_the_thread_that_dumped_is_marked_current_and_listed_first(all_threads: Any) -> None:
    dump, _ = all_threads
    assert [thread.current for thread in dump.threads] == [True, False, False, False]
    assert dump.threads[0].name == "MainThread"
    assert dump.current_thread is dump.threads[0]


def test_the_main_thread_stops_at_the_dump_call_with_its_locals(all_threads: Any) -> None:
    dump, started = all_threads
    main = frame_named(dump.threads[0].frames, "main")
    assert dump.threads[0].frames[-1] is main  # pyheapdump's own frames are not part of the stack
    assert main.f_lineno == marked_line(PROGRAM, "MAIN_DUMP_LINE")
    assert main.f_locals["main_local"] == started["MainThread"]["main_local"]
    assert [thread._name for thread in main.f_locals["threads"]] == ["backup-worker", "mail-worker", "deep-worker"]


def test_a_blocked_worker_shows_its_frame_waiting_with_its_locals(all_threads: Any) -> None:
    dump, _ = all_threads
    for name, job, attempts in (("backup-worker", "backup", 3), ("mail-worker", "mailer", 5)):
        thread = next(t for t in dump.threads if t.name == name)
        frame = frame_named(thread.frames, "worker")
        assert frame.f_lineno == marked_line(PROGRAM, "WORKER_WAIT_LINE")
        assert frame.f_locals["job"] == job and frame.f_locals["attempts"] == attempts
        assert frame.f_locals["progress"] == {"job": job, "attempts": attempts}
        # the stack runs outermost first: threading's bootstrap, then the worker, then Event.wait
        qualnames = [f.f_code.co_qualname for f in thread.frames]
        assert qualnames[0] == "Thread._bootstrap"
        assert qualnames.index("worker") < qualnames.index("Event.wait")


def test_a_recursive_worker_keeps_every_frame_linked_to_its_caller(all_threads: Any) -> None:
    dump, _ = all_threads
    thread = next(t for t in dump.threads if t.name == "deep-worker")
    nested = [f for f in thread.frames if f.f_code.co_qualname == "nested_worker"]
    assert [f.f_locals["depth"] for f in nested] == [3, 2, 1, 0]
    assert [f.f_lineno for f in nested] == [marked_line(PROGRAM, "NESTED_CALL_LINE")] * 3 + [
        marked_line(PROGRAM, "NESTED_WAIT_LINE")]
    for caller, callee in zip(nested, nested[1:], strict=False):
        assert callee.f_back is caller
    assert nested[-1].f_locals["bottom_marker"] == "at the bottom"
    for frame in thread.frames[1:]:
        assert frame.f_back is not None


def test_threads_share_the_module_globals_as_one_object(all_threads: Any) -> None:
    dump, _ = all_threads
    main = frame_named(dump.threads[0].frames, "main")
    worker = frame_named(next(t for t in dump.threads if t.name == "backup-worker").frames, "worker")
    assert worker.f_globals is main.f_globals
    assert worker.f_globals["release"] is main.f_globals["release"]


def test_threads_false_dumps_only_the_calling_thread(tmp_path: Path) -> None:
    dump, started = dump_threads(tmp_path, "--no-threads")
    assert [thread.name for thread in dump.threads] == ["MainThread"]
    assert dump.threads[0].ident == started["MainThread"]["ident"]
    assert dump.threads[0].current is True
    assert frame_named(dump.threads[0].frames, "main").f_lineno == marked_line(PROGRAM, "MAIN_DUMP_LINE")
    assert dump.metadata["threads"] == 1


def test_a_dump_taken_from_a_worker_thread_marks_that_thread_current_and_holds_the_main_thread(
        tmp_path: Path) -> None:
    dump, started = dump_threads(tmp_path, "--from-worker")
    assert dump.threads[0].name == "dumper" and dump.threads[0].current is True
    dumper = frame_named(dump.threads[0].frames, "dump_from_worker")
    assert dump.threads[0].frames[-1] is dumper
    assert dumper.f_lineno == marked_line(PROGRAM, "WORKER_DUMP_LINE")
    assert dumper.f_locals["dumper_local"] == "the dumping thread's local"
    main_thread = next(t for t in dump.threads if t.name == "MainThread")
    assert main_thread.current is False and main_thread.ident == started["MainThread"]["ident"]
    assert frame_named(main_thread.frames, "main").f_lineno == marked_line(PROGRAM, "MAIN_JOIN_LINE")
    assert {t.name for t in dump.threads} == {"dumper", *started}
