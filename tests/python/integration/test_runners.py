"""`pyheapdump run`, unittest under it, and child processes dumping through PYHEAPDUMP_DIR and the .pth file."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from capture_support import (
    PROGRAMS,
    PTH_FILE,
    child_env,
    dumps_in,
    frame_named,
    make_site_venv,
    only_dump,
    run_program,
    run_python,
    talk_to_service,
    thread_named,
)

import pyheapdump


def run_cli(*args: object, cwd: Path | None = None, python: Path | None = None, **env: str | None):
    return run_python(["-m", "pyheapdump", *map(str, args)], cwd=cwd, python=python, env=child_env(**env))


# --- pyheapdump run script.py / -m module ----------------------------------------------------------------------------


def test_run_script_leaves_a_dump_and_keeps_the_programs_exit_status(tmp_path: Path) -> None:
    completed = run_cli("run", "--directory", tmp_path, PROGRAMS / "capture_run_target.py", "crash", "--verbose")

    assert completed.returncode == 1
    first_line = completed.stdout.splitlines()[0]
    assert first_line == f"name=__main__ argv=['crash', '--verbose'] path0={PROGRAMS} main_is_me=True"
    # Python's own report, starting at the program: none of pyheapdump's or runpy's frames in it
    assert "ValueError: bad mode crash" in completed.stderr
    traceback_text = completed.stderr[completed.stderr.index("Traceback") :]
    program_part = traceback_text.split("ValueError")[0]
    package_dir = str(Path(pyheapdump.__file__).resolve().parent)
    assert package_dir not in program_part and "runpy" not in program_part, program_part
    assert 'capture_run_target.py", line' in traceback_text
    dump_path = only_dump(tmp_path, completed)
    assert f"pyheapdump: heap dump written to {dump_path} (excepthook)" in completed.stderr
    dump = pyheapdump.load_dump(dump_path)
    assert isinstance(dump.exception, ValueError)
    assert dump.traceback[0].f_code.co_qualname == "<module>"
    act = frame_named(dump.traceback, "act")
    assert act.f_locals["mode"] == "crash"
    assert act.f_locals["settings"].retries == 3


@pytest.mark.parametrize(
    ("mode", "status", "stderr_line"), [("exit-3", 3, None), ("exit-text", 1, "stopping: text"), ("ok", 0, None)]
)
def test_run_passes_the_programs_exit_status_through_without_dumping(
    tmp_path: Path, mode: str, status: int, stderr_line: str | None
) -> None:
    completed = run_cli("run", "-d", tmp_path, PROGRAMS / "capture_run_target.py", mode)
    assert completed.returncode == status, completed.stderr
    if stderr_line:
        assert stderr_line in completed.stderr.splitlines()
    assert dumps_in(tmp_path) == []


def test_run_keyboard_interrupt_exits_130_without_a_dump(tmp_path: Path) -> None:
    completed = run_cli("run", "-d", tmp_path, PROGRAMS / "capture_run_target.py", "interrupt")
    assert completed.returncode == 130
    assert "KeyboardInterrupt" in completed.stderr
    assert dumps_in(tmp_path) == []


def test_run_module_runs_as_main_with_its_arguments(tmp_path: Path) -> None:
    dumps = tmp_path / "dumps"
    completed = run_cli("run", "--directory", dumps, "-m", "capture_run_module", "alpha", "-x", cwd=PROGRAMS)

    assert completed.returncode == 1
    assert f"module argv0={PROGRAMS / 'capture_run_module.py'} path0={PROGRAMS}" in completed.stdout
    assert "RuntimeError: module failed with alpha" in completed.stderr
    dump = pyheapdump.load_dump(only_dump(dumps, completed))
    assert frame_named(dump.traceback, "main").f_locals["arguments"] == ["alpha", "-x"]


def test_run_refuses_an_unknown_limit_before_starting_the_program(tmp_path: Path) -> None:
    completed = run_cli("run", "-d", tmp_path, "--limit", "max_objectz=5", PROGRAMS / "capture_run_target.py", "ok")
    assert completed.returncode == 2
    assert completed.stdout == ""  # the program never started
    assert "pyheapdump run: unknown dump options ['max_objectz']" in completed.stderr


def test_run_reports_a_missing_program_like_python(tmp_path: Path) -> None:
    missing_script = run_cli("run", "-d", tmp_path, tmp_path / "nope.py")
    assert missing_script.returncode == 2
    assert "can't open file" in missing_script.stderr
    missing_module = run_cli("run", "-d", tmp_path, "-m", "no_such_module_here")
    assert missing_module.returncode == 1
    assert "No module named no_such_module_here" in missing_module.stderr


def test_run_sets_pyheapdump_dir_so_child_processes_dump_too(tmp_path: Path) -> None:
    python = make_site_venv(tmp_path / "venv")
    dumps = tmp_path / "dumps"

    completed = run_cli(
        "run",
        "-d",
        dumps,
        PROGRAMS / "capture_run_target.py",
        "child",
        PROGRAMS / "capture_plain_crash.py",
        python=python,
    )

    assert completed.returncode == 0, completed.stderr
    assert f"env_dir={dumps}" in completed.stdout
    assert "child exit status 1" in completed.stdout
    dump = pyheapdump.load_dump(only_dump(dumps, completed))
    assert dump.metadata["argv"][1:] == ["from-child"]
    assert frame_named(dump.traceback, "validate").f_locals["missing"] == ["port"]


# --- unittest under pyheapdump run -------------------------------------------------------------------------------


def _unittest_output(text: str) -> str:
    return re.sub(r"Ran (\d+) tests in [0-9.]+s", r"Ran \1 tests", text)


def test_run_unittest_dumps_each_failing_test_named_after_it_and_changes_nothing_else(tmp_path: Path) -> None:
    dumps = tmp_path / "dumps"
    plain = run_python(["-m", "unittest", "-v", "capture_unittest_suite"], cwd=PROGRAMS)
    completed = run_cli("run", "-d", dumps, "-m", "unittest", "-v", "capture_unittest_suite", cwd=PROGRAMS)

    assert completed.returncode == plain.returncode == 1
    assert completed.stdout == plain.stdout
    ours = [line for line in completed.stderr.splitlines() if line.startswith("pyheapdump: ")]
    assert _unittest_output("\n".join(line for line in completed.stderr.splitlines() if line not in ours)) == (
        _unittest_output(plain.stderr.rstrip("\n"))
    )
    names = sorted(path.name for path in dumps_in(dumps))
    assert names == [
        "capture_unittest_suite.AccountTests.test_deposit_errors.heapdump",
        "capture_unittest_suite.AccountTests.test_limits_limit_50.heapdump",
        "capture_unittest_suite.AccountTests.test_withdraw_fails.heapdump",
    ]
    assert len(ours) == 3  # where each dump went, after unittest's own report

    failure = pyheapdump.load_dump(dumps / names[2])
    assert failure.metadata["reason"] == "unittest"
    assert isinstance(failure.exception, AssertionError)
    test_frame = frame_named(failure.traceback, "AccountTests.test_withdraw_fails")
    assert test_frame.f_locals["withdrawn"] == 30
    assert test_frame.f_locals["self"].balance == 100
    error = pyheapdump.load_dump(dumps / names[0])
    assert isinstance(error.exception, TypeError)
    assert frame_named(error.traceback, "AccountTests.test_deposit_errors").f_locals["deposit"] == {"amount": "ten"}
    subtest = pyheapdump.load_dump(dumps / names[1])
    assert frame_named(subtest.traceback, "AccountTests.test_limits").f_locals["limit"] == 50


# --- child processes through PYHEAPDUMP_DIR and the .pth file --------------------------------------------------------


@pytest.fixture(scope="module")
def site_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_site_venv(tmp_path_factory.mktemp("site") / "venv")


def test_pth_file_is_one_guarded_line_that_checks_the_variable_first() -> None:
    lines = PTH_FILE.read_text().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("import os; exec(")
    assert lines[0].endswith('if os.environ.get("PYHEAPDUMP_DIR") else None')


def test_without_the_variable_start_up_does_not_import_pyheapdump(site_python: Path) -> None:
    check = "import sys; print(sorted(name for name in sys.modules if name.startswith('pyheapdump')))"
    without = run_python(["-c", check], python=site_python)
    with_variable = run_python(["-c", check], python=site_python, env=child_env(PYHEAPDUMP_DIR="/tmp"))
    assert without.stdout.strip() == "[]"
    assert "pyheapdump.capture.hooks" in with_variable.stdout


def test_the_pth_line_costs_nothing_measurable_without_the_variable(site_python: Path) -> None:
    pth = PTH_FILE.read_text()
    code = (
        f"import time; start = time.perf_counter_ns()\nfor _ in range(1000): exec({pth!r})\n"
        "print((time.perf_counter_ns() - start) / 1000)"
    )
    per_start_ns = float(run_python(["-c", code], python=site_python).stdout)
    # site.py compiles and runs the line once per start-up: about 30 us here (mostly compiling it), against
    # 15-20 ms for the interpreter to start; the bound leaves room for a loaded machine and stays under 1 %.
    assert per_start_ns < 150_000


def test_a_plain_program_dumps_at_start_up_hooks_from_the_environment(site_python: Path, tmp_path: Path) -> None:
    completed = run_program(
        "capture_plain_crash.py", "--flag", python=site_python, env=child_env(PYHEAPDUMP_DIR=str(tmp_path))
    )
    assert completed.returncode == 1
    assert "KeyError" in completed.stderr
    dump = pyheapdump.load_dump(only_dump(tmp_path, completed))
    validate = frame_named(dump.traceback, "validate")
    assert validate.f_locals["config"] == {"host": "db.internal", "argv": ["--flag"]}


def test_a_broken_pyheapdump_never_breaks_start_up(site_python: Path, tmp_path: Path) -> None:
    broken = tmp_path / "shadow" / "pyheapdump"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('simulated broken install')\n")
    env = child_env(PYHEAPDUMP_DIR=str(tmp_path / "dumps"))
    env["PYTHONPATH"] = str(broken.parent)
    completed = run_python(["-c", "print('started fine')"], python=site_python, env=env)
    assert completed.returncode == 0
    assert completed.stdout == "started fine\n"
    # One line per site directory holding the .pth: a venv with system site-packages reads its own twice.
    lines = set(completed.stderr.splitlines())
    assert lines == {"pyheapdump: PYHEAPDUMP_DIR is set but pyheapdump could not be imported: simulated broken install"}


@pytest.mark.parametrize("start_method", ["spawn", "forkserver", "fork"])
def test_multiprocessing_workers_leave_dumps_through_the_environment(
    site_python: Path, tmp_path: Path, start_method: str
) -> None:
    completed = run_program(
        "capture_mp_workers.py", start_method, python=site_python, env=child_env(PYHEAPDUMP_DIR=str(tmp_path))
    )

    assert completed.returncode == 0, completed.stderr
    assert "pool task failed: cannot resize image 3 to 300" in completed.stdout
    assert "executor task failed" in completed.stdout
    assert "process exit code 1" in completed.stdout
    dumps = {}
    for path in dumps_in(tmp_path):
        dump = pyheapdump.load_dump(path)
        dumps[dump.metadata["reason"]] = dump
    assert sorted(dumps) == ["multiprocessing", "multiprocessing-pool", "process-pool"], completed.stderr
    assert frame_named(dumps["multiprocessing-pool"].traceback, "resize").f_locals["width"] == 300
    assert frame_named(dumps["process-pool"].traceback, "convert").f_locals["pages"] == 3
    assert frame_named(dumps["multiprocessing"].traceback, "index_shard").f_locals["documents_seen"] == 35
    worker_pids = {dump.metadata["pid"] for dump in dumps.values()}
    assert len(worker_pids) == 3  # three different worker processes wrote them


def test_pyheapdump_run_is_a_registered_subcommand() -> None:
    completed = run_cli("run", "--help")
    assert completed.returncode == 0
    assert "run a library module as a script" in completed.stdout and "--directory DIR" in completed.stdout


def test_run_accepts_program_options_that_look_like_its_own(tmp_path: Path) -> None:
    completed = run_cli("run", "-d", tmp_path, PROGRAMS / "capture_run_target.py", "ok", "--directory", "x", "-m")
    assert completed.returncode == 0, completed.stderr
    assert "argv=['ok', '--directory', 'x', '-m']" in completed.stdout


def test_run_with_signal_dumps_the_live_program_and_says_so_at_once(tmp_path: Path) -> None:
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pyheapdump",
            "run",
            "--signal",
            "USR1",
            "-d",
            str(tmp_path),
            str(PROGRAMS / "capture_signal_service.py"),
            "-",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    ) as service:
        announced = talk_to_service(service)  # the line comes while the program still runs

    dump_path = only_dump(tmp_path)
    assert announced.startswith(f"pyheapdump: heap dump written to {dump_path} (signal)")
    dump = pyheapdump.load_dump(dump_path)
    assert frame_named(thread_named(dump, "MainThread").frames, "serve").f_locals["handled"] == 1
