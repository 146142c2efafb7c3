"""tests/python/programs/real_asyncio_service.py: an asyncio streams service dumped from inside the task whose request
failed. Every pending task (clients, the connections' handlers, a queue worker, tasks stuck on a lock and an event)
is a task stack of the dump, with its coroutine frames and their locals, in safe and trusted loads, through the API
and the CLI, here and in a venv without any of the test venv's packages. Loading never runs the service again: it
appends to ran.log whenever its top level runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from engine_support import REPO, child_env, frame_named, run_program

import pyheapdump

# task name -> (its innermost frame of the program, a local there and its value)
WAITING = {
    "queue-worker": ("queue_worker", "processed", [10, 20, 30]),
    "ledger-reconciler": ("reconcile_ledger", "attempts", 1),
    "shutdown-waiter": ("wait_for_shutdown", "reason", "draining"),
    "client-0": ("client", "answers", ["3", "5"]),
    "client-1": ("client", "answers", ["7"]),
}


def program_env(directory: Path) -> dict[str, str]:
    return child_env(REAL_PROGRAM_DIR=str(directory))


def ran_count(directory: Path) -> int:
    return (directory / "ran.log").read_text().count("ran\n")


@pytest.fixture(scope="module")
def service_dump(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("asyncio-service")
    result = run_program("real_asyncio_service.py", cwd=directory, env=program_env(directory))
    assert "dumped the service: True" in result.stdout, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return directory, directory / "service.heapdump"


def task_stacks(dump: pyheapdump.HeapDump) -> dict[str, Any]:
    return {stack.name: stack for stack in dump.threads if stack.kind == "asyncio-task"}


def assert_the_tasks_wait_where_they_did(stacks: dict[str, Any]) -> None:
    for name, (function, local, value) in WAITING.items():
        assert name in stacks, sorted(stacks)
        assert stacks[name].state == "pending"
        frame = frame_named(stacks[name].frames, function)
        assert frame.f_locals[local] == value, (name, frame.f_locals)
    # The connections' handlers: two wait for their client's next line, one (the failing request's) dumped.
    handlers = [stack for stack in stacks.values()
                if any(frame.f_code.co_name == "handle_connection" for frame in stack.frames)]
    served = sorted(tuple(frame_named(stack.frames, "handle_connection").f_locals["served"]) for stack in handlers)
    assert [("apple", 3), ("pear", 5)] in [list(s) for s in served] and [("plum", 7)] in [list(s) for s in served]
    main = next(stack for stack in stacks.values() if stack.frames[0].f_code.co_name == "main")
    assert frame_named(main.frames, "main").f_locals["port"] > 0


def test_a_safe_load_has_every_pending_task_with_its_coroutine_frames(service_dump: tuple[Path, Path]) -> None:
    directory, dump_path = service_dump
    dump = pyheapdump.load_dump(dump_path)
    assert type(dump.exception).__name__ == "KeyError" and dump.exception.args == ("durian",)
    failing = frame_named(dump.traceback, "handle_connection").f_locals
    assert failing["item"] == "durian" and failing["served"] == []
    assert dump.metadata["description"] == "unknown item 'durian'"
    stacks = task_stacks(dump)
    assert len(stacks) >= 9, sorted(stacks)
    assert_the_tasks_wait_where_they_did(stacks)
    assert "client-durian" in stacks
    assert dump.threads[0].kind == "thread"
    assert ran_count(directory) == 1


def test_info_counts_the_task_stacks(service_dump: tuple[Path, Path]) -> None:
    _, dump_path = service_dump
    shown = subprocess.run([sys.executable, "-m", "pyheapdump", "info", str(dump_path)],
                           capture_output=True, text=True, timeout=120, cwd=REPO)
    assert shown.returncode == 0, shown.stderr
    found = re.search(r"task stacks\s+(\d+) asyncio-tasks", shown.stdout)
    assert found and int(found.group(1)) >= 9, shown.stdout
    assert "KeyError: 'durian'" in shown.stdout


def assert_traceback_shows_the_tasks(out: str) -> None:
    assert "KeyError: 'durian'" in out
    assert "price = PRICES[item]  # UNKNOWN_ITEM" in out
    for name, (function, local, value) in WAITING.items():
        header = next((line for line in out.splitlines() if line.startswith("Stack ") and f'"{name}"' in line), None)
        assert header is not None and "asyncio-task pending" in header, (name, out[:2000])
        section = out.split(header, 1)[1].split("\nStack ", 1)[0]
        assert f"in {function}" in section, section
        assert f"{local} = {value!r}" in section, section
    assert "await shutdown.wait()  # WAITS_FOR_EVENT" in out
    assert "async with ledger_lock:  # WAITS_FOR_LOCK" in out
    assert "job = await jobs.get()  # WORKER_WAITS" in out


def test_traceback_shows_each_task_with_its_locals(service_dump: tuple[Path, Path]) -> None:
    directory, dump_path = service_dump
    shown = subprocess.run([sys.executable, "-m", "pyheapdump", "traceback", "--locals", str(dump_path)],
                           capture_output=True, text=True, timeout=120, cwd=directory, env=program_env(directory))
    assert shown.returncode == 0, shown.stderr
    assert_traceback_shows_the_tasks(shown.stdout)
    assert ran_count(directory) == 1


def test_a_trusted_load_runs_nothing_of_the_service(service_dump: tuple[Path, Path]) -> None:
    directory, dump_path = service_dump
    shown = subprocess.run(
        [sys.executable, "-m", "pyheapdump", "traceback", "--locals", "--trusted", str(dump_path)],
        capture_output=True, text=True, timeout=120, env=program_env(directory), cwd=directory)
    assert shown.returncode == 0, shown.stderr
    assert_traceback_shows_the_tasks(shown.stdout)
    assert ran_count(directory) == 1, "loading the dump ran the service's top level again"
    assert list(directory.glob("*.heapdump")) == [dump_path], "loading the dump wrote a new dump"


def test_dropping_a_trusted_load_of_the_service_runs_no_finalizer(service_dump: tuple[Path, Path]) -> None:
    """asyncio's StreamWriter, StreamReaderProtocol and transports are made from their state by a trusted load: their
    __del__ must not run on the rebuilt loop and transports when the dump is dropped."""
    directory, dump_path = service_dump
    code = ("import gc, sys, pyheapdump\n"
            "dump = pyheapdump.load_dump(sys.argv[1], trusted=True)\n"
            "print(sorted(s.name for s in dump.threads if s.kind == 'asyncio-task'))\n"
            "del dump\n"
            "gc.collect()\n")
    shown = subprocess.run([sys.executable, "-c", code, str(dump_path)], capture_output=True, text=True, timeout=120,
                           env=program_env(directory), cwd=directory)
    assert shown.returncode == 0, shown.stderr
    assert "queue-worker" in shown.stdout
    assert ran_count(directory) == 1
    assert "Exception ignored" not in shown.stderr, shown.stderr[-3000:]


def test_the_service_dump_loads_in_a_venv_without_the_test_packages(
        service_dump: tuple[Path, Path], bare_python: Path) -> None:
    directory, dump_path = service_dump
    shown = subprocess.run([str(bare_python), "-m", "pyheapdump", "traceback", "--locals", str(dump_path)],
                           capture_output=True, text=True, timeout=120, env=program_env(directory), cwd=directory)
    assert shown.returncode == 0, shown.stderr
    assert_traceback_shows_the_tasks(shown.stdout)
    assert "Traceback" not in shown.stderr, shown.stderr
    assert ran_count(directory) == 1
