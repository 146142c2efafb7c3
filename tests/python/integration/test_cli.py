"""The command line as a user runs it: `python -m pyheapdump info|traceback|stats|debug` on real dumps and bad input."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from debug_support import child_env, crash_and_dump, marker_line, run_cli

import pyheapdump

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    return crash_and_dump(tmp_path_factory.mktemp("crash"))


def assert_one_line_error(completed: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert completed.returncode != 0
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("pyheapdump: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize("command", ["info", "traceback", "stats", "debug", "load"])
def test_every_subcommand_has_help(command: str) -> None:
    completed = run_cli(command, "--help")
    assert completed.returncode == 0
    assert "usage: pyheapdump" in completed.stdout


def test_info_shows_the_header_of_a_dump(crash: tuple[Path, Path, str]) -> None:
    dump, program, _ = crash
    completed = run_cli("info", dump)
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""  # no progress bar when stderr is not a terminal
    out = completed.stdout
    assert out.splitlines()[0] == str(dump)
    assert f"program      {program} {dump}" in out
    assert "description  parsing records failed" in out
    assert "exception    RuntimeError: bad record 'c,oops'" in out
    assert "threads      2" in out
    assert f"python       {sys.version.split()[0]}" in out
    assert re.search(r"pid +\d+", out)
    assert "limits hit   none" in out
    assert "redaction    on" in out  # on by default
    assert re.search(r"size +[\d.]+ KiB on disk; \d+ objects", out)


def test_info_lists_a_directory_newest_first(tmp_path: Path, crash: tuple[Path, Path, str]) -> None:
    dump, _, _ = crash
    older, newer = tmp_path / "older.heapdump", tmp_path / "newer.heapdump"
    older.write_bytes(dump.read_bytes())
    newer.write_bytes(dump.read_bytes())
    os.utime(older, (1_000_000, 1_000_000))
    (tmp_path / "notes.txt").write_text("not a dump")
    completed = run_cli("info", tmp_path)
    assert completed.returncode == 0, completed.stderr
    listed = [line for line in completed.stdout.splitlines() if line and not line.startswith(" ")]
    assert listed == [str(newer), str(older)]


def test_info_on_a_limited_dump_names_the_limit_hit(tmp_path: Path) -> None:
    dump, _, _ = crash_and_dump(tmp_path, "40")
    completed = run_cli("info", dump)
    assert completed.returncode == 0, completed.stderr
    assert re.search(r"limits hit   max_objects \(cut: max_objects \d+\)", completed.stdout)


# Every subcommand that reads a dump, with what it needs besides DUMP ({tmp}: the test's directory). diff reads DUMP
# as both OLD and NEW.
DUMP_COMMANDS: dict[str, list[str]] = {
    "info": [],
    "traceback": [],
    "stats": [],
    "debug": [],
    "serve": ["--port", "0"],
    "top": [],
    "paths": ["@1"],
    "report": ["-o", "{tmp}/report.html"],
    "diff": [],
}
NOT_DUMPS = ["missing", "directory", "text", "fifo"]


def test_every_subcommand_that_reads_a_dump_is_in_the_table() -> None:
    from pyheapdump.cli import commands

    assert set(DUMP_COMMANDS) == {command.NAME for command in commands()} - {"dump", "run"}  # those two make dumps


def not_a_dump(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.heapdump"
    if kind == "directory":
        path.mkdir()
    elif kind == "text":
        path.write_text("just some notes, not a dump\n" * 4)
    elif kind == "fifo":
        os.mkfifo(path)  # opening it for reading would wait for a writer
    return path


@pytest.mark.parametrize(
    ("command", "kind"),
    # `info DIR` lists the dumps in DIR (test_info_lists_a_directory_newest_first).
    [(command, kind) for command in DUMP_COMMANDS for kind in NOT_DUMPS if (command, kind) != ("info", "directory")],
)
def test_a_path_that_names_no_dump_is_load_dumps_error_on_one_line(tmp_path: Path, command: str, kind: str) -> None:
    path = not_a_dump(tmp_path, kind)
    with pytest.raises(pyheapdump.DumpError) as raised:
        pyheapdump.load_dump(path)
    dumps = [path, path] if command == "diff" else [path]
    completed = run_cli(command, *dumps, *(arg.format(tmp=tmp_path) for arg in DUMP_COMMANDS[command]))
    assert completed.returncode == 1
    assert completed.stderr == f"pyheapdump: error: {raised.value}\n"
    assert completed.stdout == ""


def test_info_on_a_directory_without_dumps_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("nothing here")
    assert_one_line_error(run_cli("info", tmp_path), "no .heapdump files")


@pytest.mark.parametrize("command", ["info", "traceback", "stats", "debug"])
@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupted_file_is_a_one_line_error(
    tmp_path: Path, crash: tuple[Path, Path, str], command: str, damage: str
) -> None:
    bad = tmp_path / "bad.heapdump"
    if damage == "garbage":
        bad.write_bytes(b"this is not a heap dump at all\n" * 4)
    else:
        bad.write_bytes(crash[0].read_bytes()[:120])
    assert_one_line_error(run_cli(command, bad), "bad.heapdump")


def python_traceback(program_stdout: str) -> str:
    return program_stdout.split("---\n")[0]


def test_traceback_prints_exactly_what_python_printed_chain_included(crash: tuple[Path, Path, str]) -> None:
    dump, _, stdout = crash
    completed = run_cli("traceback", dump)
    assert completed.returncode == 0, completed.stderr
    expected = python_traceback(stdout)
    assert "The above exception was the direct cause" in expected
    assert completed.stdout.startswith(expected)
    assert "\x1b[" not in completed.stdout  # piped: no colour


def test_traceback_then_lists_every_dumped_stack(crash: tuple[Path, Path, str]) -> None:
    dump, program, _ = crash
    out = run_cli("traceback", dump).stdout
    stacks = out[len(python_traceback(crash[2])) :]
    assert re.search(r'Stack 1: "MainThread" \(ident \d+, thread, dumped here\), most recent call last:', stacks)
    assert re.search(r'Stack 2: "backup-worker" \(ident \d+, thread\), most recent call last:', stacks)
    assert f'File "{program}", line {marker_line(program, "DUMP_LINE")}, in main' in stacks
    assert f'File "{program}", line {marker_line(program, "WORKER_WAIT_LINE")}, in worker_loop' in stacks
    assert "release.wait(30)  # WORKER_WAIT_LINE" in stacks


def test_traceback_thread_option_prints_only_that_stack(crash: tuple[Path, Path, str]) -> None:
    dump, _, _ = crash
    completed = run_cli("traceback", dump, "--thread", "2")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith('Stack 2: "backup-worker"')
    assert "Traceback" not in completed.stdout and "MainThread" not in completed.stdout
    assert_one_line_error(run_cli("traceback", dump, "--thread", "9"), "no stack 9")


def test_traceback_locals_are_shown_as_bounded_reprs(crash: tuple[Path, Path, str]) -> None:
    dump, _, _ = crash
    out = run_cli("traceback", dump, "--locals").stdout
    assert "    records = ['a,1', 'b,2', 'c,oops']" in out
    assert "    fields = ['c', 'oops']" in out
    notes = next(line for line in out.splitlines() if line.startswith("    notes = "))
    assert notes.startswith("    notes = 'nnnn") and notes.endswith("...")
    assert len(notes) <= len("    notes = ") + 200
    assert "    job_name = 'nightly-backup'" in out  # the worker's stack has locals too


def run_on_terminal(args: list[str], **env: str | None) -> str:
    """Run the CLI with stdout on a pseudo-terminal; return what it wrote there."""
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "pyheapdump", *args],
            stdout=slave,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            timeout=120,
            env=child_env(**env),
        )
    finally:
        os.close(slave)
    reader.join(10)
    os.close(master)
    assert completed.returncode == 0, completed.stderr
    return b"".join(chunks).decode()


def test_traceback_is_coloured_on_a_terminal_unless_no_color(crash: tuple[Path, Path, str]) -> None:
    dump, program, _ = crash
    coloured = run_on_terminal(["traceback", str(dump)], TERM="xterm")
    assert f'\x1b[35m"{program}"\x1b[0m' in coloured
    assert "\x1b[1;31mRuntimeError\x1b[0m" in coloured
    assert ANSI.sub("", coloured).replace("\r\n", "\n").startswith(python_traceback(crash[2]))
    plain = run_on_terminal(["traceback", str(dump)], TERM="xterm", NO_COLOR="1")
    assert "\x1b[" not in plain


def test_stats_prints_a_histogram_largest_objects_and_cuts(crash: tuple[Path, Path, str]) -> None:
    dump, _, _ = crash
    completed = run_cli("stats", dump)
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    header = re.match(r"Heap histogram of .*: ([\d,]+) objects, ([\d,]+) bytes", out)
    assert header
    rows = re.findall(r"^ +\d+: +([\d,]+) +([\d,]+)  (\S+)$", out, re.MULTILINE)
    names = [name for _, _, name in rows]
    assert {"str", "list", "dict", "frame"} <= set(names)
    sizes = [int(size.replace(",", "")) for _, size, _ in rows]
    assert sizes == sorted(sizes, reverse=True)  # most bytes first
    total = re.search(r"^Total +([\d,]+) +([\d,]+)$", out, re.MULTILINE)
    assert total and total.group(1) == header.group(1)
    assert "Largest objects:" in out
    assert "nothing: every reachable object was dumped" in out


def test_stats_says_what_the_limits_cut(tmp_path: Path) -> None:
    dump, _, _ = crash_and_dump(tmp_path, "40")
    out = run_cli("stats", dump, "--top", "3").stdout
    assert re.search(r"max_objects +[\d,]+ objects or items left out", out)
    assert "limits hit: max_objects" in out
    assert re.search(r"\(\d+ more types\)", out)


def test_info_orders_a_directory_by_the_time_in_each_dump_not_the_file_time(tmp_path: Path) -> None:
    import pyheapdump

    first = pyheapdump.save_dump(tmp_path / "a-first.heapdump", threads=False)
    second = pyheapdump.save_dump(tmp_path / "b-second.heapdump", threads=False)
    os.utime(second, (1_000_000, 1_000_000))  # a copy that lost its modification time
    os.utime(first, (2_000_000, 2_000_000))
    completed = run_cli("info", tmp_path)
    assert completed.returncode == 0, completed.stderr
    listed = [line for line in completed.stdout.splitlines() if line.endswith(".heapdump")]
    assert listed == [str(second), str(first)]


def _truncated_copy(dump: Path, directory: Path) -> Path:
    """The dump cut at two thirds of its length, like a disk that filled up or a copy that broke off."""
    data = dump.read_bytes()
    cut = directory / "cut-short.heapdump"
    cut.write_bytes(data[: len(data) * 2 // 3])
    return cut


def test_info_on_a_truncated_dump_says_it_is_damaged(tmp_path: Path, crash: tuple[Path, Path, str]) -> None:
    cut = _truncated_copy(crash[0], tmp_path)
    completed = run_cli("info", cut)
    assert completed.returncode == 0, completed.stderr
    damaged = [line for line in completed.stdout.splitlines() if line.lstrip().startswith("damaged")]
    assert len(damaged) == 1, completed.stdout
    assert "truncated at byte" in damaged[0] and "loading recovers the intact records" in damaged[0]
    assert "damaged" not in run_cli("info", crash[0]).stdout


def test_info_counts_the_asyncio_task_stacks_beside_the_threads(tmp_path: Path) -> None:
    program = tmp_path / "tasks.py"
    program.write_text(
        "import asyncio, sys, pyheapdump\n"
        "async def wait_forever(event):\n"
        "    await event.wait()\n"
        "async def main():\n"
        "    event = asyncio.Event()\n"
        "    tasks = [asyncio.create_task(wait_forever(event)) for _ in range(3)]\n"
        "    await asyncio.sleep(0)\n"
        "    pyheapdump.save_dump(sys.argv[1])\n"
        "    event.set()\n"
        "asyncio.run(main())\n")
    dump = tmp_path / "tasks.heapdump"
    made = subprocess.run([sys.executable, str(program), str(dump)], env=child_env(), capture_output=True,
                          text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    out = run_cli("info", dump).stdout
    # the three waiting tasks and main() itself, which is running the dump
    assert re.search(r"task stacks +4 asyncio-tasks", out), out


def test_load_problems_are_one_readable_block_not_python_warnings(tmp_path: Path,
                                                                  crash: tuple[Path, Path, str]) -> None:
    cut = _truncated_copy(crash[0], tmp_path)
    completed = run_cli("traceback", cut)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert re.fullmatch(r"pyheapdump: \d+ problems? loading .*cut-short\.heapdump; what they touched loads as "
                        r"surrogates \(pyheapdump\.surrogate_info says why\):", lines[0]), completed.stderr
    assert all(line.startswith("  - ") or line.startswith("  ...") for line in lines[1:]), completed.stderr
    assert "truncated" in completed.stderr
    assert "warn" not in completed.stderr.lower() and ".py:" not in completed.stderr, completed.stderr
