"""Dumping under stress, each scenario in its own process (tests/python/programs/trust_stress.py): other threads
mutating what is dumped, hostile objects, a million levels of nesting, ten million items, an address-space limit, and
dumps requested from a signal handler or another thread while one runs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from engine_support import PROGRAMS, last_json_line, run_python


def scenario(tmp_path: Path, name: str, *args: Any, timeout: float = 280) -> dict[str, Any]:
    result = run_python([PROGRAMS / "trust_stress.py", name, tmp_path, *args], cwd=tmp_path, timeout=timeout)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr[-4000:]}"
    return last_json_line(result.stdout)


def test_dumps_while_four_threads_mutate_the_dumped_objects_all_succeed_with_consistent_snapshots(
        tmp_path: Path) -> None:
    report = scenario(tmp_path, "mutate", 15)
    assert report["errors"] == []
    assert report["dumps"] == 15
    assert report["torn"] == []  # every dumped list of pairs holds whole pairs
    assert report["dumps_per_second"] > 0.5, report


def test_hostile_methods_and_properties_never_run_while_dumping_and_the_state_is_kept(tmp_path: Path) -> None:
    report = scenario(tmp_path, "hostile")
    assert report["ran"] == []  # no __getattribute__, __getattr__, __class__, reduce, repr, sizeof, hash, property
    assert report["ran_after_load"] == []
    assert report["seconds"] < 10  # nothing that loops or sleeps ran
    kept = report["kept"]
    for name in ("getattribute", "getattr", "reduce raises", "reduce sleeps", "reduce garbage", "repr", "sizeof",
                 "property"):
        assert kept[name] == name, kept  # each instance loaded with its own __dict__
    assert report["iter_items"] == [1, 2, 3]  # a list subclass whose __iter__ raises: its items read through the C API
    assert report["key_kept"] == "hash"  # a dict key whose __hash__ and __eq__ are hostile
    # On 3.12+ io's own C __reduce_ex__ refuses the FileIO subclass ("cannot pickle"): a recorded capture error, and
    # the object is a surrogate. Nothing else may fail.
    assert report["errors"] <= 1


def test_a_list_nested_a_million_levels_deep_dumps_and_loads_without_overflowing_the_stack(tmp_path: Path) -> None:
    dumped = scenario(tmp_path, "deep", 1_000_000)
    assert dumped["cut"] == {}
    assert dumped["objects"] > 1_000_000
    loaded = scenario(tmp_path, "load-deep", dumped["path"])
    assert loaded["depth"] == 1_000_000


def test_a_list_of_ten_million_items_is_cut_by_max_items_and_the_cut_is_in_the_summary(tmp_path: Path) -> None:
    report = scenario(tmp_path, "big", 10_000_000)
    assert report["cut"] == {"max_items": 1}
    assert report["limits_hit"] == ["max_items"]
    assert report["loaded_length"] == 1_000_000 and report["loaded_head"] == [0, 1, 2]
    assert report["seconds"] < 20
    assert report["file_bytes"] < 10 << 20


def _low_memory(tmp_path: Path, how: str, spare_mib: int = 10) -> tuple[str, str]:
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    result = run_python([PROGRAMS / "trust_stress.py", "lowmem", dumps, spare_mib, how], cwd=tmp_path, timeout=120)
    assert result.returncode == 1, result.stderr  # the program's own uncaught error, not a crash
    assert "ValueError: the program's own error (1000000 records)" in result.stderr
    assert list(dumps.iterdir()) == []  # no dump, no temporary file
    return result.stdout, result.stderr


@pytest.mark.parametrize("spare_mib", [4, 12])  # out of memory at once, or part way through the walk
def test_under_an_address_space_limit_an_explicit_dump_raises_dump_memory_error_and_leaves_no_file(
        tmp_path: Path, spare_mib: int) -> None:
    out, _ = _low_memory(tmp_path, "explicit", spare_mib)
    failed = next(line for line in out.splitlines() if line.startswith("dump failed:"))
    # how far the walk got depends on what the walker sets up first: at 10 MiB it may be nothing at all
    assert failed.startswith("dump failed: DumpMemoryError: the dump ran out of memory "), failed
    assert " after " in failed or " before its first object" in failed, failed
    assert "and was not written" in failed and "max_objects=" in failed and "max_bytes=" in failed


def test_under_an_address_space_limit_the_excepthook_dump_fails_in_one_line_and_python_still_reports_the_error(
        tmp_path: Path) -> None:
    _, err = _low_memory(tmp_path, "hook")
    complaint = [line for line in err.splitlines() if line.startswith("pyheapdump:")]
    assert len(complaint) == 1
    assert complaint[0].startswith(
        "pyheapdump: no heap dump for excepthook: DumpMemoryError: the dump ran out of memory")


def test_under_an_address_space_limit_the_logging_handler_dump_fails_and_the_program_goes_on_to_its_own_error(
        tmp_path: Path) -> None:
    out, err = _low_memory(tmp_path, "logging")
    assert "logged" in out  # logger.exception() returned: the failed dump did not raise into the program
    assert "DumpMemoryError: the dump ran out of memory" in err  # logging's handleError told why


@pytest.fixture(scope="module")
def records_dump(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A dump of 300,000 small records: about 60 MB of records, about 600 MB of address space to load."""
    directory = tmp_path_factory.mktemp("records")
    return scenario(directory, "records", 300_000)


# The load runs out of memory at different places: reading the records, or rebuilding them in Python. This dump loads
# with about 180 MiB to spare (since the compact record store of Dec 2026); the largest limit keeps a margin below.
# Between about 100 and 180 MiB, CPython 3.11 used to loop for ever in the loader's cleanup: the block that freed the
# half-made heap needed memory to start (the loader now keeps address space back for it, and the core empties what it
# made before the error leaves it). Before the native module prepared libstdc++'s thread-local data, some of these
# limits ended the process with exit 127.
@pytest.mark.parametrize("spare_mib", [16, 60, 100, 130, 150])
def test_loading_a_dump_too_large_for_the_memory_left_raises_dump_memory_error_naming_the_memory_it_needs(
        tmp_path: Path, records_dump: dict[str, Any], spare_mib: int) -> None:
    report = scenario(tmp_path, "lowmem-load", records_dump["path"], spare_mib)
    assert report["error"] == "DumpMemoryError" and report["dump_error"], report
    message = report["message"]
    assert "loading this dump needs more memory than this process has" in message
    raw_mib = records_dump["raw_bytes"] / (1 << 20)
    assert f"its records are {raw_mib:.1f} MiB raw; loading can take up to about 20 times that" in message
    assert "load it on a machine with more memory" in message


@pytest.mark.parametrize("spare_mib", [16, 40])
def test_reading_every_record_without_the_memory_for_them_raises_dump_memory_error_instead_of_leaving_some_out(
        tmp_path: Path, records_dump: dict[str, Any], spare_mib: int) -> None:
    report = scenario(tmp_path, "lowmem-records", records_dump["path"], spare_mib)
    assert report["error"] == "DumpMemoryError" and report["dump_error"], report
    assert "out of memory" in report["message"], report


def _cli_under_limit(tmp_path: Path, spare_mib: int, *argv: str) -> subprocess.CompletedProcess[str]:
    return run_python([PROGRAMS / "trust_stress.py", "lowmem-cli", tmp_path, spare_mib, *argv], cwd=tmp_path,
                      timeout=120)


def test_the_traceback_command_on_a_dump_too_large_for_the_memory_left_prints_one_line_and_exits_1(
        tmp_path: Path, records_dump: dict[str, Any]) -> None:
    result = _cli_under_limit(tmp_path, 64, "traceback", records_dump["path"])
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pyheapdump: error: ") and "load it on a machine with more memory" in lines[0]


def test_the_info_command_reads_a_dump_too_large_to_load_under_the_same_limit(
        tmp_path: Path, records_dump: dict[str, Any]) -> None:
    result = _cli_under_limit(tmp_path, 64, "info", records_dump["path"])  # the header only: no object is loaded
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "records.heapdump" in result.stdout
def test_a_dump_requested_from_a_signal_handler_during_a_dump_is_refused_and_the_first_completes(
        tmp_path: Path) -> None:
    report = scenario(tmp_path, "signal")
    assert len(report["outcomes"]) == 1
    outcome = report["outcomes"][0]
    # The alarm fires during the walk (refused on this thread) or, on a slow machine, after it (a clean second dump).
    assert outcome.startswith("DumpInProgressError") or outcome == "written", outcome
    assert report["outer_length"] == report["heap"] == 400_000


def test_a_dump_requested_from_another_thread_during_a_dump_waits_then_succeeds(tmp_path: Path) -> None:
    report = scenario(tmp_path, "thread")
    assert report["alive"] is False
    assert len(report["outcome"]) == 1 and report["outcome"][0].startswith("written after"), report
    assert report["first_length"] == report["heap"] == 400_000
    assert report["second_threads"] == 2


def test_a_dump_with_open_files_and_busy_threads_does_not_wait_for_the_switch_interval(tmp_path: Path) -> None:
    # Reading a file's position releases the GIL; at a 1000 s switch interval the walk then waited up to 1000 s per
    # file for a CPU-bound thread to hand the GIL back.
    program = tmp_path / "busy.py"
    program.write_text(
        "import sys, threading, time\n"
        "import pyheapdump\n"
        "stop = False\n"
        "def spin():\n"
        "    while not stop:\n"
        "        pass\n"
        "for _ in range(3):\n"
        "    threading.Thread(target=spin, daemon=True).start()\n"
        "files = [open(f'file-{i}', 'w') for i in range(100)]\n"
        "started = time.perf_counter()\n"
        "pyheapdump.save_dump('busy.heapdump', threads=False)\n"
        "print(time.perf_counter() - started)\n")
    result = run_python([program], cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.split()[-1]) < 30
