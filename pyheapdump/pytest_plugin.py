"""pytest plugin: `pytest --heapdump-dir DIR` writes a heap dump for each failing test, at its failure.

Registered through the `pytest11` entry point `pyheapdump`, so an installed pyheapdump makes the options available
in every pytest run; without `--heapdump-dir` the plugin does nothing at all. From a source tree where the entry
point is not installed: `pytest -p pyheapdump.pytest_plugin --heapdump-dir DIR`.

- What dumps: a test whose setup, call or teardown fails or errors. Skips, expected failures (xfail) and
  unexpected passes do not.
- When: in `pytest_runtest_makereport`, right after the failing phase and before the next test runs, so the dump
  holds the failing test's frames (fixtures' values are its arguments, so they are its locals) through the
  exception's traceback, with every thread's stack as it is at that moment.
- Name: the test's node id, sanitized to `[A-Za-z0-9._-]`, plus `-setup` / `-teardown` for those phases:
  `tests_test_api.py_TestUser_test_login_admin_.heapdump`. A second failure under the same name in the same run
  (reruns) gets `-2`, `-3`; a file left by an earlier run under that name is replaced.
- The path of each dump is added to the test's report as a section ("heap dump") and summed up at the end.
- Under pytest-xdist every worker writes its own dumps (the plugin runs in each worker).
- `--heapdump-limit NAME=VALUE` (repeatable) passes limits to `save_dump` (e.g. `max_objects=100000`,
  `time_limit=5`); `--heapdump-no-threads` dumps only the failing thread.
- A failure to write a dump prints one line to stderr and never changes the test's outcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pyheapdump.capture.hooks import DumpWriter, parse_limit, test_dump_path, write_quietly

_STASH_KEY = pytest.StashKey["_HeapDumpSession"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("heapdump", "heap dumps of failing tests (pyheapdump)")
    group.addoption(
        "--heapdump-dir",
        metavar="DIR",
        default=None,
        help="write a heap dump of each failing test into DIR, named after the test's node id",
    )
    group.addoption(
        "--heapdump-limit",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="a limit passed to save_dump, e.g. max_objects=100000 (repeatable)",
    )
    group.addoption(
        "--heapdump-no-threads",
        action="store_true",
        default=False,
        help="dump only the failing test's thread, not every thread",
    )


class _HeapDumpSession:
    def __init__(self, directory: Path, limits: dict[str, Any], threads: bool) -> None:
        self.directory = directory
        self.writer = DumpWriter(directory, threads=threads, limits=limits)
        self.used_names: set[str] = set()
        self.written: list[tuple[str, str]] = []  # (test id, dump path)


def pytest_configure(config: pytest.Config) -> None:
    directory = config.getoption("heapdump_dir")
    if not directory:
        return
    limits = {}
    for text in config.getoption("heapdump_limit"):
        try:
            name, value = parse_limit(text)
        except ValueError as error:
            raise pytest.UsageError(f"--heapdump-limit: {error}") from None
        limits[name] = value
    path = Path(directory).expanduser()
    if not path.is_absolute():
        path = Path(config.invocation_params.dir) / path
    try:
        session = _HeapDumpSession(path, limits, not config.getoption("heapdump_no_threads"))
    except (TypeError, ValueError) as error:
        raise pytest.UsageError(f"--heapdump-limit: {error}") from None
    config.stash[_STASH_KEY] = session


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    session = item.config.stash.get(_STASH_KEY, None)
    if session is None or not report.failed or call.excinfo is None:
        return report
    exc = call.excinfo.value
    test_id = item.nodeid if call.when == "call" else f"{item.nodeid}-{call.when}"
    path = test_dump_path(session.directory, test_id, session.used_names)
    written = write_quietly(
        session.writer, reason="pytest", exc=exc, path=path, description=f"pytest {call.when} of {item.nodeid}"
    )
    if written is not None:
        session.written.append((item.nodeid, written))
        report.sections.append(("heap dump", f"{written}\n"))
    return report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    session = config.stash.get(_STASH_KEY, None)
    if session is None or not session.written:
        return
    terminalreporter.section("heap dumps")
    for nodeid, path in session.written:
        terminalreporter.write_line(f"{nodeid}: {path}")
