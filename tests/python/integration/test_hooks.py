"""install()/uninstall(), dump_on_error, HeapDumpHandler and the production caps, each proved in a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from capture_support import (
    PROGRAMS,
    child_env,
    dumps_in,
    frame_named,
    only_dump,
    read_dump_announcement,
    run_program,
    run_python,
    talk_to_service,
    thread_named,
)

import pyheapdump
from pyheapdump.capture import hooks
from pyheapdump.errors import DumpError

# --- caps, pruning and names (no dump needed) -----------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_stops_at_the_per_process_cap() -> None:
    budget = hooks.DumpBudget(max_dumps=2, max_per_window=None, clock=FakeClock())
    assert [budget.try_spend() is None for _ in range(4)] == [True, True, False, False]
    assert "2 dumps per process" in budget.try_spend()


def test_budget_window_slides_and_frees_slots_as_time_passes() -> None:
    clock = FakeClock()
    budget = hooks.DumpBudget(max_dumps=None, max_per_window=2, per_seconds=60, clock=clock)
    assert budget.try_spend() is None
    clock.now += 30
    assert budget.try_spend() is None
    assert "2 dumps per 60 s" in budget.try_spend()
    clock.now += 31  # the first dump is now more than 60 s old
    assert budget.try_spend() is None
    assert budget.try_spend() is not None


def test_budget_holds_under_concurrent_spenders() -> None:
    budget = hooks.DumpBudget(max_dumps=5, max_per_window=None)
    allowed = []
    barrier = threading.Barrier(16)

    def spend() -> None:
        barrier.wait()
        for _ in range(20):
            if budget.try_spend() is None:
                allowed.append(1)

    workers = [threading.Thread(target=spend) for _ in range(16)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(allowed) == 5
    assert budget.refused == 16 * 20 - 5


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_caps_reject_values_that_are_not_counts(bad: object) -> None:
    with pytest.raises(ValueError, match="max_dumps must be"):
        hooks.DumpBudget(max_dumps=bad)  # type: ignore[arg-type]


def _write_dumps(directory: Path, sizes: list[int]) -> list[Path]:
    paths = []
    for number, size in enumerate(sizes):
        path = directory / f"prog-{number}.heapdump"
        path.write_bytes(b"x" * size)
        os.utime(path, ns=(number * 1_000_000_000, number * 1_000_000_000))
        paths.append(path)
    return paths


def test_prune_keeps_the_newest_dumps_and_touches_nothing_else(tmp_path: Path) -> None:
    paths = _write_dumps(tmp_path, [10, 10, 10, 10])
    unrelated = [tmp_path / "notes.txt", tmp_path / ".partial.heapdump", tmp_path / "data.heapdump.tmp"]
    for path in unrelated:
        path.write_text("keep me")
    (tmp_path / "dir.heapdump").mkdir()

    deleted = hooks.prune_dumps(tmp_path, keep=2, keep_bytes=None)

    assert sorted(deleted) == [str(path) for path in paths[:2]]  # str paths: no pathlib in a failing program
    assert dumps_in(tmp_path) == paths[2:]
    assert all(path.exists() for path in unrelated)
    assert (tmp_path / "dir.heapdump").is_dir()


def test_prune_by_bytes_never_deletes_the_dump_just_written(tmp_path: Path) -> None:
    paths = _write_dumps(tmp_path, [100, 100, 100, 500])
    deleted = hooks.prune_dumps(tmp_path, keep=None, keep_bytes=250, protect=paths[-1])
    assert paths[-1].exists()  # alone over the cap, yet it is the one just written
    assert sorted(deleted) == [str(path) for path in paths[:3]]


def test_prune_without_caps_deletes_nothing(tmp_path: Path) -> None:
    paths = _write_dumps(tmp_path, [1, 1, 1])
    assert hooks.prune_dumps(tmp_path, keep=None, keep_bytes=None) == []
    assert dumps_in(tmp_path) == paths


def test_test_names_become_safe_distinct_file_names(tmp_path: Path) -> None:
    used: set[str] = set()
    first = hooks.test_dump_path(tmp_path, "tests/test_api.py::TestUser::test_login[admin/root]", used)
    again = hooks.test_dump_path(tmp_path, "tests/test_api.py::TestUser::test_login[admin/root]", used)
    assert first.name == "tests_test_api.py_TestUser_test_login_admin_root.heapdump"
    assert again.name == "tests_test_api.py_TestUser_test_login_admin_root-2.heapdump"
    assert first.parent == tmp_path


def test_long_test_names_are_cut_but_stay_distinct() -> None:
    a = hooks.sanitize_stem("test_x[" + "a" * 300 + "]")
    b = hooks.sanitize_stem("test_x[" + "a" * 299 + "b]")
    assert len(a) <= 150 and len(b) <= 150
    assert a != b
    assert hooks.sanitize_stem("../../etc/passwd") == "etc_passwd"
    assert hooks.sanitize_stem("::") == "dump"


# --- install() and uninstall() in this process (no dump is written) -------------------------------------------------


@pytest.fixture
def clean_install():
    yield
    hooks.uninstall()


def test_uninstall_restores_every_hook(clean_install: None) -> None:
    import asyncio.base_events

    before = (
        sys.excepthook,
        threading.excepthook,
        asyncio.base_events.BaseEventLoop.call_exception_handler,
        signal.getsignal(signal.SIGUSR2),
    )
    hooks.install(signal=signal.SIGUSR2)
    assert hooks.installed()
    assert sys.excepthook is not before[0]
    assert threading.excepthook is not before[1]
    assert asyncio.base_events.BaseEventLoop.call_exception_handler is not before[2]
    assert signal.getsignal(signal.SIGUSR2) is not before[3]

    hooks.uninstall()

    after = (
        sys.excepthook,
        threading.excepthook,
        asyncio.base_events.BaseEventLoop.call_exception_handler,
        signal.getsignal(signal.SIGUSR2),
    )
    assert after == before
    assert not hooks.installed()


def test_install_twice_replaces_instead_of_stacking(clean_install: None) -> None:
    original = sys.excepthook
    hooks.install()
    first = sys.excepthook
    hooks.install()
    assert sys.excepthook is not first
    hooks.uninstall()
    assert sys.excepthook is original


def test_a_hook_wrapped_by_someone_else_is_left_in_place_and_forwards(clean_install: None) -> None:
    calls = []
    original = sys.excepthook
    sys.excepthook = lambda *args: calls.append("base")
    try:
        hooks.install()
        ours = sys.excepthook
        sys.excepthook = lambda *args: (calls.append("outer"), ours(*args))
        outer = sys.excepthook
        hooks.uninstall()
        assert sys.excepthook is outer  # not torn out from under the other wrapper
        sys.excepthook(KeyboardInterrupt, KeyboardInterrupt(), None)  # excluded type: no dump attempted
        assert calls == ["outer", "base"]
    finally:
        sys.excepthook = original


def test_install_with_signal_outside_the_main_thread_says_why(clean_install: None) -> None:
    errors = []

    def attempt() -> None:
        try:
            hooks.install(signal=signal.SIGUSR2)
        except DumpError as error:
            errors.append(str(error))

    worker = threading.Thread(target=attempt)
    worker.start()
    worker.join()
    assert errors and "main thread" in errors[0]
    assert not hooks.installed()


def test_misspelt_dump_options_are_refused_at_set_up_not_at_the_first_dump(clean_install: None) -> None:
    with pytest.raises(TypeError, match=r"unknown dump options \['max_objectz'\].*max_objects"):
        hooks.install(max_objectz=1000)
    assert not hooks.installed()
    with pytest.raises(TypeError, match="unknown dump options"):
        pyheapdump.HeapDumpHandler(time_limt=3)
    with pytest.raises(TypeError, match=r"unknown dump options \['reason'\]"):
        pyheapdump.dump_on_error(reason="mine")  # set by the hook itself, per dump
    hooks.install(max_objects=1000, time_limit=2.5)  # the real names are fine


@pytest.mark.parametrize("bad", [{"keep": -1}, {"keep_bytes": -1}, {"max_dumps": -1}, {"per_seconds": 0},
                                 {"max_objectz": 3}])
def test_a_bad_option_to_install_again_leaves_the_running_installation_and_its_caps_alone(
        clean_install: None, bad: dict[str, object]) -> None:
    pyheapdump.install(max_dumps=7, max_per_window=2)
    try:
        hook = sys.excepthook
        with pytest.raises((ValueError, TypeError)):
            pyheapdump.install(**bad)  # type: ignore[arg-type]
        assert hooks.installed() and sys.excepthook is hook
        budget = hooks.global_budget()
        assert (budget.max_dumps, budget.max_per_window) == (7, 2)
    finally:
        pyheapdump.install()  # the default caps again, for the tests after this one


def test_install_rejects_what_is_not_an_exception_class(clean_install: None) -> None:
    with pytest.raises(TypeError, match="exception classes"):
        hooks.install(exclude=("KeyboardInterrupt",))  # type: ignore[arg-type]


def test_asyncio_and_multiprocessing_are_patched_on_first_import_not_imported_by_install(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        import pyheapdump.capture.hooks as hooks
        hooks.install()
        lazy = ("asyncio", "multiprocessing", "concurrent.futures.process")
        print("imported by install:", [name for name in lazy if name in sys.modules])
        import asyncio, multiprocessing.pool, multiprocessing.process, concurrent.futures.process
        ours = lambda function: function.__code__.co_filename == sys.modules["pyheapdump.capture.lazy"].__file__
        print("asyncio patched:", ours(asyncio.BaseEventLoop.call_exception_handler))
        print("process patched:", ours(multiprocessing.process.BaseProcess._bootstrap))
        print("pool patched:", ours(multiprocessing.pool.ExceptionWithTraceback.__init__))
        module = asyncio.base_events
        print("loader hidden:", type(module.__loader__).__name__, type(module.__spec__.loader).__name__)
        hooks.uninstall()
        print("restored:", not ours(asyncio.BaseEventLoop.call_exception_handler))
        print("watcher gone:", not any(type(f).__name__ == "_ImportWatcher" for f in sys.meta_path))
        """
    )
    completed = run_python(["-c", code])
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        "imported by install: []",
        "asyncio patched: True",
        "process patched: True",
        "pool patched: True",
        "loader hidden: SourceFileLoader SourceFileLoader",
        "restored: True",
        "watcher gone: True",
    ]


# --- each hook in a real process ------------------------------------------------------------------------------------


def test_uncaught_exception_dumps_the_failing_frames_and_every_thread(tmp_path: Path) -> None:
    completed = run_program("capture_crash.py", tmp_path)

    assert completed.returncode == 1
    assert "ZeroDivisionError: division by zero" in completed.stderr  # Python's own report still printed
    dump_path = only_dump(tmp_path, completed)
    assert f"heap dump written to {dump_path}" in completed.stderr
    dump = pyheapdump.load_dump(dump_path)
    assert dump.metadata["reason"] == "excepthook"
    assert isinstance(dump.exception, ZeroDivisionError)
    charge = frame_named(dump.traceback, "charge")
    assert charge.f_locals["total"] == 42
    assert charge.f_locals["order"] == {"id": 4711, "items": [19, 23], "discount": 0}
    worker = thread_named(dump, "report-worker")
    assert frame_named(worker.frames, "wait_for_release").f_locals["waiting_for"] == "nightly-report"
    assert thread_named(dump, "MainThread").current


def test_uncaught_exception_still_reaches_the_previous_excepthook(tmp_path: Path) -> None:
    completed = run_program("capture_crash.py", tmp_path, "chained")
    assert completed.returncode == 1
    assert "previous hook saw ZeroDivisionError" in completed.stderr
    assert "ZeroDivisionError: division by zero" in completed.stderr
    only_dump(tmp_path, completed)


def test_exception_ending_a_thread_dumps_that_thread_as_the_current_one(tmp_path: Path) -> None:
    completed = run_program("capture_thread_crash.py", tmp_path)

    assert completed.returncode == 0
    assert "main thread finished" in completed.stdout
    assert "Exception in thread ingest-worker" in completed.stderr  # threading's own report
    dump = pyheapdump.load_dump(only_dump(tmp_path, completed))
    assert dump.metadata["reason"] == "thread-excepthook"
    assert isinstance(dump.exception, ValueError)
    assert dump.current_thread is not None and dump.current_thread.name == "ingest-worker"
    parse_rows = frame_named(dump.traceback, "parse_rows")
    assert parse_rows.f_locals["row"] == "three"
    assert parse_rows.f_locals["parsed"] == [1, 2]
    assert "MainThread" in [thread.name for thread in dump.threads]


def test_asyncio_reports_of_a_lost_task_exception_and_a_failing_callback_dump(tmp_path: Path) -> None:
    completed = run_program("capture_asyncio_crash.py", tmp_path)

    assert completed.returncode == 0, completed.stderr
    assert "loop finished" in completed.stdout
    assert "Task exception was never retrieved" in completed.stderr  # asyncio's own report still printed
    dumps = [pyheapdump.load_dump(path) for path in dumps_in(tmp_path)]
    assert sorted(type(dump.exception).__name__ for dump in dumps) == ["KeyError", "RuntimeError"], completed.stderr
    for dump in dumps:
        assert dump.metadata["reason"] == "asyncio"
        heartbeat = thread_named(dump, "heartbeat")
        assert heartbeat.kind == "asyncio-task"
        assert frame_named(heartbeat.frames, "heartbeat").f_locals["beats"] == 1
    lost = next(dump for dump in dumps if isinstance(dump.exception, RuntimeError))
    assert frame_named(lost.traceback, "fetch").f_locals["url"] == "https://example.invalid/"
    callback = next(dump for dump in dumps if isinstance(dump.exception, KeyError))
    assert frame_named(callback.traceback, "on_timer").f_locals["payload"] == {"present": 1}


def test_signal_dumps_the_live_process_which_keeps_running(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, str(PROGRAMS / "capture_signal_service.py"), str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    ) as service:
        announced = talk_to_service(service)

    dump_path = only_dump(tmp_path)
    assert str(dump_path) in announced and "(signal)" in announced
    dump = pyheapdump.load_dump(dump_path)
    assert dump.metadata["reason"] == "signal"
    assert dump.exception is None
    main = thread_named(dump, "MainThread")
    assert frame_named(main.frames, "serve").f_locals["handled"] == 1
    poller = thread_named(dump, "queue-poller")
    assert frame_named(poller.frames, "poll_queue").f_locals["queue_name"] == "orders"
    assert dump.frame is not None and dump.frame.f_code.co_qualname == "serve"


@pytest.mark.parametrize(
    ("case", "error", "frame", "local", "value"),
    [
        ("sync", "ValueError", "convert", "base", 10),
        ("async", "KeyError", "fetch_price", "prices", {"ACME": 12.5}),
        ("with", "ZeroDivisionError", "<module>", "ratio", 3),
        ("async-with", "AssertionError", "with_async_block", "used", 6),
        ("generator", "IndexError", "read_records", "number", 1),
    ],
)
def test_dump_on_error_dumps_and_reraises(
    tmp_path: Path, case: str, error: str, frame: str, local: str, value: object
) -> None:
    completed = run_program("capture_dump_on_error.py", tmp_path, case)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"re-raised {error}"
    dump = pyheapdump.load_dump(only_dump(tmp_path, completed))
    assert dump.metadata["reason"] == "dump_on_error"
    assert type(dump.exception).__name__ == error
    assert frame_named(dump.traceback, frame).f_locals[local] == value


def test_dump_on_error_leaves_system_exit_alone(tmp_path: Path) -> None:
    completed = run_program("capture_dump_on_error.py", tmp_path, "excluded")
    assert completed.returncode == 0
    assert dumps_in(tmp_path) == []


# What `import pyheapdump` and `install()` must not bring into a program. Logging (with its last-resort handler),
# importlib.resources, tempfile and hashlib (OpenSSL, 3.6 MB) came in until Dec 2026; typing, dataclasses (with
# inspect, ast, dis and tokenize), pathlib (with urllib.parse, ipaddress and fnmatch), json, platform, datetime,
# pkgutil, importlib.util, copy and signal (3 MB of peak RSS on 3.11) until the modules the package imports did
# without them.
NOT_IMPORTED_BY_THE_HOOKS = (
    "logging", "importlib.resources", "tempfile", "hashlib",
    "typing", "dataclasses", "inspect", "ast", "dis", "tokenize", "pathlib", "urllib.parse", "ipaddress", "fnmatch",
    "json", "platform", "datetime", "pkgutil", "importlib.util", "copy", "signal",
)


def test_installing_the_hooks_imports_no_logging_into_the_program_and_the_dump_is_still_reported_on_stderr(
        tmp_path: Path) -> None:
    # Installing the hooks must not change what the program imports beyond pyheapdump's own needs.
    code = textwrap.dedent(
        f"""
        import sys
        import pyheapdump
        pyheapdump.install({str(tmp_path)!r})
        print("imported:", [name for name in {NOT_IMPORTED_BY_THE_HOOKS!r} if name in sys.modules], flush=True)
        1 / 0
        """
    )
    completed = run_python(["-c", code])
    assert completed.returncode == 1
    assert completed.stdout.strip() == "imported: []", completed.stdout
    dump_path = only_dump(tmp_path, completed)
    assert f"heap dump written to {dump_path}" in completed.stderr
    assert "ZeroDivisionError" in completed.stderr


def test_a_dump_imports_nothing_while_the_program_fails(tmp_path: Path) -> None:
    # Everything a dump needs is imported with the package: a failing program (an excepthook, a dying thread, a signal
    # handler, low memory) must not import anything to be dumped, whatever it holds (a weakref.proxy here). Each hook
    # pyheapdump chains to (set before install()) runs right after its dump, and reports what was imported since the
    # dump began.
    code = textwrap.dedent(
        f"""
        import sys
        import threading
        import weakref
        import pyheapdump

        class Alive:
            pass

        alive = Alive()
        held_proxy = weakref.proxy(alive)  # only the C API names a proxy's referent (ctypes was imported for it)
        before = set()

        def report_then(name, previous):
            def hook(*args):
                print(f"imported by the {{name}}'s dump:", sorted(set(sys.modules) - before), flush=True)
                return previous(*args)
            return hook

        def snapshot_then(dumping_hook):
            def hook(*args):
                before.update(sys.modules)
                return dumping_hook(*args)
            return hook

        sys.excepthook = report_then("program", sys.excepthook)
        threading.excepthook = report_then("thread", threading.excepthook)
        pyheapdump.install({str(tmp_path)!r})
        sys.excepthook = snapshot_then(sys.excepthook)
        threading.excepthook = snapshot_then(threading.excepthook)

        worker = threading.Thread(target=lambda: 1 / 0, name="failing-worker")
        worker.start()
        worker.join()
        before.clear()
        {{}}["missing"]
        """
    )
    completed = run_python(["-c", code])
    assert completed.returncode == 1, completed.stderr
    assert completed.stdout.splitlines() == [
        "imported by the thread's dump: []",
        "imported by the program's dump: []",
    ], completed.stderr
    assert len(dumps_in(tmp_path)) == 2, completed.stderr


# What the loader must not bring in beyond `import pyheapdump`: the load benchmark and every debugger session pay for
# it. typing, dataclasses (with inspect, ast, dis and tokenize), importlib.util, copy and contextlib came in until
# Dec 2026; ast is imported only for a captured repr or a trusted load's __main__ classes and functions that need it.
NOT_IMPORTED_BY_THE_LOADER = (
    "typing", "dataclasses", "inspect", "ast", "dis", "tokenize", "importlib.util", "copy", "contextlib",
)


def test_the_loader_and_a_load_import_no_typing_dataclasses_or_ast(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        import pyheapdump

        class Order:
            def __init__(self):
                self.lines = [(1, "pen", 2.5)]
                self.notes = {{"rush": True}}

        def ship(order):
            raise ValueError("no address for " + repr(order.notes))

        try:
            ship(Order())
        except ValueError as error:
            path = pyheapdump.save_dump({str(tmp_path / "order.heapdump")!r}, exc=error)
        import pyheapdump.load.loader
        print("imported by the loader:", [name for name in {NOT_IMPORTED_BY_THE_LOADER!r} if name in sys.modules])
        dump = pyheapdump.load_dump(path)
        print("imported by a load:", [name for name in {NOT_IMPORTED_BY_THE_LOADER!r} if name in sys.modules])
        print(repr(dump.exception), dump.traceback[-1].f_locals["order"].notes)
        """
    )
    completed = run_python(["-c", code])
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        "imported by the loader: []",
        "imported by a load: []",
        "ValueError(\"no address for {'rush': True}\") {'rush': True}",
    ], completed.stderr


def test_logged_exception_dumps_through_the_logging_handler(tmp_path: Path) -> None:
    completed = run_program("capture_logging.py", tmp_path)

    assert completed.returncode == 0, completed.stderr
    assert "request handled" in completed.stdout
    assert "ERROR billing: invoice 2 of ACME not found" in completed.stderr
    dump_path = only_dump(tmp_path, completed)  # the error without exc_info and the warning did not dump
    assert f"WARNING pyheapdump: heap dump written to {dump_path} (logging)" in completed.stderr
    dump = pyheapdump.load_dump(dump_path)
    assert dump.metadata["reason"] == "logging"
    assert "invoice 2 of ACME not found" in dump.metadata["description"]
    assert isinstance(dump.exception, KeyError)
    assert frame_named(dump.traceback, "load_invoice").f_locals["invoices"] == {1: {"amount": 10}}
    assert dump.frame is not None and dump.frame.f_code.co_qualname == "handle_request"
    assert dump.frame.f_locals["customer"] == "ACME"


def test_a_failing_dump_prints_one_line_and_the_original_report_goes_on(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "occupied"
    not_a_directory.write_text("a file where the dump directory should be")

    completed = run_program("capture_hook_failure.py", not_a_directory)

    assert completed.returncode == 1
    ours = [line for line in completed.stderr.splitlines() if line.startswith("pyheapdump:")]
    assert len(ours) == 1 and ours[0].startswith("pyheapdump: no heap dump for excepthook: "), completed.stderr
    assert "RuntimeError: the original failure (fuse lit)" in completed.stderr
    assert 'in explode\n    raise RuntimeError(f"the original failure (fuse {fuse})")' in completed.stderr


def test_caps_hold_under_a_storm_of_failures(tmp_path: Path) -> None:
    completed = run_program("capture_storm.py", tmp_path, 3, 40, 60)

    assert completed.returncode == 0, completed.stderr
    assert "survived the storm" in completed.stdout
    # every failure still reported (threading writes the phrase and the name separately, so threads interleave)
    assert completed.stderr.count("Exception in thread ") == 40
    dumps = dumps_in(tmp_path)
    reasons = sorted(pyheapdump.read_header(path)["reason"] for path in dumps)
    assert reasons == ["logging"] * 3 + ["thread-excepthook"] * 3
    skipped = [line for line in completed.stderr.splitlines() if "heap dump skipped" in line]
    assert len(skipped) == 2  # once for the threads' cap, once for the handler's, not once per failure


def test_directory_cap_keeps_only_the_newest_dumps(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import pyheapdump
        pyheapdump.install(max_per_window=None)  # lifts the window cap that dump_on_error shares

        @pyheapdump.dump_on_error(directory={str(tmp_path)!r}, keep=2)
        def fail(number):
            raise ValueError(number)

        for number in range(5):
            try:
                fail(number)
            except ValueError:
                pass
        """
    )
    completed = run_python(["-c", code])
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.count("heap dump written to") == 5
    dumps = dumps_in(tmp_path)
    assert sorted(pyheapdump.load_dump(path).exception.args[0] for path in dumps) == [3, 4]


def test_one_exception_passing_several_hooks_dumps_once(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import logging
        import pyheapdump
        pyheapdump.install({str(tmp_path)!r})
        log = logging.getLogger("app")
        log.addHandler(pyheapdump.HeapDumpHandler({str(tmp_path)!r}))

        @pyheapdump.dump_on_error(directory={str(tmp_path)!r})
        def step():
            raise LookupError("lost")

        try:
            step()
        except LookupError:
            log.exception("step failed, giving up")
            raise
        """
    )
    completed = run_python(["-c", code])

    assert completed.returncode == 1
    assert "LookupError: lost" in completed.stderr  # logged, then reported as uncaught
    dump = pyheapdump.load_dump(only_dump(tmp_path, completed))
    assert dump.metadata["reason"] == "dump_on_error"  # the first hook to see it; logging and excepthook skip it


def test_the_logging_handler_never_raises_when_the_dump_fails(tmp_path: Path) -> None:
    occupied = tmp_path / "occupied"
    occupied.write_text("a file where the dump directory should be")
    code = textwrap.dedent(
        f"""
        import logging
        import pyheapdump
        log = logging.getLogger("app")
        log.addHandler(pyheapdump.HeapDumpHandler({str(occupied)!r}))
        try:
            1 / 0
        except ZeroDivisionError:
            log.exception("division failed")
        print("still running")
        """
    )
    completed = run_python(["-c", code])

    assert completed.returncode == 0
    assert completed.stdout == "still running\n"
    assert "--- Logging error ---" in completed.stderr  # logging's own handleError report
    assert "division failed" in completed.stderr


def test_a_forked_child_has_caps_of_its_own(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import os, sys
        import pyheapdump
        pyheapdump.install({str(tmp_path)!r}, max_dumps=1)

        @pyheapdump.dump_on_error(directory={str(tmp_path)!r})
        def fail(where):
            raise RuntimeError(where)

        try:
            fail("parent")  # spends the parent's only dump
        except RuntimeError:
            pass
        child = os.fork()
        if child == 0:
            fail("child")  # uncaught in the child: its own cap still has room
        _, status = os.waitpid(child, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    completed = run_python(["-c", code])

    assert completed.returncode == 1  # the child's uncaught exception
    origins = sorted(pyheapdump.load_dump(path).exception.args[0] for path in dumps_in(tmp_path))
    assert origins == ["child", "parent"]


def test_an_operators_signal_is_honoured_past_the_caps_for_failures(tmp_path: Path) -> None:
    # install()'s default caps allow 3 dumps per 300 s; a fourth and fifth signal still dump.
    with subprocess.Popen(
        [sys.executable, str(PROGRAMS / "capture_signal_service.py"), str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
    ) as service:
        watchdog = threading.Timer(120, service.kill)  # a hung service ends the reads below, not the test run
        watchdog.start()
        try:
            assert service.stdout.readline().strip() == "ready"
            announced, logged = [], []
            for number in range(1, 6):
                service.send_signal(signal.SIGUSR1)
                announced.append(read_dump_announcement(service.stderr, logged))
                # A served line proves the handler has returned: a signal during a dump is refused by design.
                service.stdin.write(f"after {number}\n")
                service.stdin.flush()
                assert service.stdout.readline().strip() == f"handled after {number} ({number})"
            service.stdin.close()
            assert service.wait(timeout=60) == 0
        finally:
            watchdog.cancel()
            if service.poll() is None:
                service.kill()
    assert len(dumps_in(tmp_path)) == 5
    assert all("(signal)" in line for line in announced)
    # The log says what happened: the dumps past the cap were written, and why, never that they were skipped.
    assert not any("skipped" in line for line in logged), logged
    assert sum("asked by signal: written although" in line for line in logged) == 2, logged
