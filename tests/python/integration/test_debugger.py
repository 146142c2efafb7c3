"""pdb, ipdb, pdbpp and pudb on a real dump, driven the way a user drives them: commands typed on stdin."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from debug_support import child_env, crash_and_dump, marker_line, run_cli

import pyheapdump
from pyheapdump.errors import DumpError


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    return crash_and_dump(tmp_path_factory.mktemp("crash"))


def session(dump: Path, *commands: str, options: tuple[str, ...] = ()) -> str:
    """Type `commands` into `pyheapdump debug DUMP`; return everything it printed (it must exit 0)."""
    completed = run_cli("debug", dump, *options, input="".join(c + "\n" for c in commands))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def test_pdb_stops_at_the_frame_that_raised_with_the_dumped_locals(crash: tuple[Path, Path, str]) -> None:
    dump, program, _ = crash
    out = session(dump, "p record", "p total", "bt", "q")
    reraise = marker_line(program, "RERAISE_LINE")
    assert f"> {program}({reraise})load_all()\n-> raise RuntimeError" in out
    assert "'c,oops'" in out
    assert "\n(Pdb) 3\n" in out  # total = 1 + 2 before the bad record
    assert f"  {program}({marker_line(program, 'MAIN_CALL_LINE')})main()\n-> load_all(records)  # MAIN_CALL_LINE" in out
    assert re.search(rf"{re.escape(str(program))}\(\d+\)<module>\(\)\n-> main\(", out)  # the callers are there too


def test_pdb_up_down_args_whatis_pp_and_globals(crash: tuple[Path, Path, str]) -> None:
    dump, program, _ = crash
    out = session(dump, "up", "args", "whatis records", "pp records", "p GREETING", "down", "args", "p record", "q")
    assert f"> {program}({marker_line(program, 'MAIN_CALL_LINE')})main()" in out
    assert f"path = '{dump}'" in out
    assert "limits = {}" in out
    assert "<class 'list'>" in out
    assert "['a,1', 'b,2', 'c,oops']" in out
    assert "'hello from the dumped globals'" in out
    assert "records = ['a,1', 'b,2', 'c,oops']" in out  # load_all's argument after `down`
    assert "'c,oops'" in out


def test_pdb_statements_and_display_work_on_dumped_values(crash: tuple[Path, Path, str]) -> None:
    dump, _, _ = crash
    out = session(dump, "!total = total * 100", "p total", "display record", "p [r.upper() for r in records]", "q")
    assert "(Pdb) 300\n" in out
    assert "display record: 'c,oops'" in out
    assert "['A,1', 'B,2', 'C,OOPS']" in out


def test_pdb_interact_sees_the_dumped_names(crash: tuple[Path, Path, str]) -> None:
    dump, _, _ = crash
    out = session(dump, "interact", "print('interacting', record, total, sorted(locals())[:3])")
    assert "interacting c,oops 3" in out


def test_pdb_ll_shows_the_dumped_source_even_after_the_file_changed_or_went(tmp_path: Path) -> None:
    dump, program, _ = crash_and_dump(tmp_path)
    program.write_text(program.read_text().replace("# RERAISE_LINE", "# CHANGED ON DISK"))
    out = session(dump, "ll", "q")
    assert "# RERAISE_LINE" in out and "CHANGED ON DISK" not in out
    assert "def load_all(records):" in out
    program.unlink()
    out = session(dump, "ll", "list 25, 28", "q")
    assert "->\t            raise RuntimeError" in out
    assert "def parse_record(record):" in out


def test_pdb_threads_lists_every_stack_and_thread_switches(crash: tuple[Path, Path, str]) -> None:
    dump, program, _ = crash
    out = session(dump, "threads", "thread 2", "bt", "up 2", "p job_name, retries, pending", "threads", "q")
    first, second = out.split("\n(Pdb) ")[1:3]
    assert re.search(r"^\*   1  MainThread +ident \d+ +thread +.*:\d+ in main  \(dumped here\)$", first, re.M)
    assert re.search(r"^    2  backup-worker +ident \d+ +thread +.*threading\.py:\d+ in wait$", first, re.M)
    assert re.match(r"> .*threading\.py\(\d+\)wait\(\)", second)
    wait_line = marker_line(program, "WORKER_WAIT_LINE")
    assert f"  {program}({wait_line})worker_loop()\n-> release.wait(30)  # WORKER_WAIT_LINE" in out
    assert "('nightly-backup', 3, ['nightly-backup', 'nightly-backup', 'nightly-backup'])" in out
    last_threads = out.split("(Pdb) ")[-2]
    assert re.search(r"^\*   2  backup-worker", last_threads, re.M)


def test_pdb_thread_with_a_bad_number_says_what_exists(crash: tuple[Path, Path, str]) -> None:
    dump, _, _ = crash
    out = session(dump, "thread 7", "thread x", "p record", "q")
    assert "no stack 7: `threads` lists stacks 1 to 2" in out
    assert "thread wants a stack number" in out
    assert "'c,oops'" in out


@pytest.mark.parametrize(
    "command", ["c", "cont", "continue", "s", "step", "n", "next", "unt", "until", "r", "return", "j 30", "jump 30"]
)
def test_pdb_refuses_to_run_the_dumped_program_and_stays(crash: tuple[Path, Path, str], command: str) -> None:
    dump, _, _ = crash
    out = session(dump, command, "p record", "q")
    name = {"c": "continue", "cont": "continue", "s": "step", "n": "next", "unt": "until", "r": "return"}.get(
        command, command.split()[0]
    )
    name = "jump" if name == "j" else name
    assert f"*** {name}: this is a heap dump, not a running program" in out
    assert "'c,oops'" in out  # still in the session afterwards


def test_pdb_ends_on_quit_and_on_end_of_input(crash: tuple[Path, Path, str]) -> None:
    dump, _, _ = crash
    started = time.monotonic()
    assert "(Pdb) " in session(dump)  # EOF right away
    assert "(Pdb) " in session(dump, "quit")
    assert time.monotonic() - started < 60


def test_debug_thread_option_starts_on_that_stack(crash: tuple[Path, Path, str]) -> None:
    dump, _, _ = crash
    out = session(dump, "p retries", options=("--thread", "2"))
    assert re.search(r"> .*threading\.py\(\d+\)wait\(\)", out)
    completed = run_cli("debug", dump, "--thread", "5")
    assert completed.returncode == 1
    assert completed.stderr.strip() == "pyheapdump: error: the dump has no stack 5: it holds stacks 1 to 2"


@pytest.mark.skipif(sys.version_info < (3, 13), reason="pdb's `exceptions` command is new in Python 3.13")
def test_pdb_exceptions_walks_the_rebuilt_chain(crash: tuple[Path, Path, str]) -> None:
    dump, program, _ = crash
    out = session(dump, "exceptions", "exceptions 0", "p fields", "bt", "q")
    assert "  0 ValueError(\"invalid literal for int() with base 10: 'oops'\")" in out
    assert ">   1 RuntimeError(\"bad record 'c,oops'\")" in out
    assert f"> {program}({marker_line(program, 'RAISE_LINE')})parse_record()" in out
    assert "['c', 'oops']" in out


def test_debug_dump_and_heapdump_debug_from_python(crash: tuple[Path, Path, str]) -> None:
    dump_path, program, _ = crash
    from pyheapdump.debug.debugger import debug_dump

    out = io.StringIO()
    debug_dump(dump_path, stdin=io.StringIO("p record\nthreads\nq\n"), stdout=out)
    assert "'c,oops'" in out.getvalue()
    assert "backup-worker" in out.getvalue()
    dump = pyheapdump.load_dump(dump_path)
    out = io.StringIO()
    dump.debug(thread=2, stdin=io.StringIO("up 2\np job_name\nq\n"), stdout=out)
    assert "'nightly-backup'" in out.getvalue()
    with pytest.raises(DumpError, match="unknown debugger 'gdb'"):
        debug_dump(dump, debugger="gdb")


def test_heapdump_debug_works_in_a_fresh_process_that_only_loaded_the_dump(crash: tuple[Path, Path, str]) -> None:
    # The package imports the debugger on first use: a program that loads a dump and calls .debug() has not imported
    # it (it raised RuntimeError "... is not imported" before).
    code = (
        "import io, sys, pyheapdump\n"
        "dump = pyheapdump.load_dump(sys.argv[1])\n"
        "assert 'pyheapdump.debug.debugger' not in sys.modules\n"
        "dump.debug(stdin=io.StringIO('p record\\nq\\n'))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code, str(crash[0])], capture_output=True, text=True,
                               env=child_env(), timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "'c,oops'" in completed.stdout, completed.stdout


def test_ipdb_session_has_the_same_stacks_and_commands(crash: tuple[Path, Path, str]) -> None:
    pytest.importorskip("ipdb", reason="ipdb is not installed (pip install ipdb)")
    dump, program, _ = crash
    out = session(
        dump, "p record", "threads", "thread 2", "up 2", "p job_name", "c", "q", options=("--debugger", "ipdb")
    )
    assert "ipdb> " in out
    assert "'c,oops'" in out
    assert "backup-worker" in out
    assert "'nightly-backup'" in out
    assert "*** continue: this is a heap dump, not a running program" in out


def test_pdbpp_missing_is_a_one_line_error_naming_the_package(crash: tuple[Path, Path, str]) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", "import pdb; print(hasattr(pdb, 'PdbMeta'))"], capture_output=True, text=True
    )
    if completed.stdout.strip() == "True":
        pytest.skip("pdbpp is installed here")
    result = run_cli("debug", crash[0], "--debugger", "pdbpp")
    assert result.returncode == 1
    assert result.stderr.strip() == "pyheapdump: error: --debugger pdbpp needs pdbpp: pip install pdbpp"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is needed to give pudb a terminal")
def test_pudb_shows_the_exception_variables_and_stack_of_the_dump(
    tmp_path: Path, crash: tuple[Path, Path, str]
) -> None:
    pytest.importorskip("pudb", reason="pudb is not installed (pip install pudb)")
    dump, program, _ = crash
    config = tmp_path / "config" / "pudb"
    config.mkdir(parents=True)
    (config / "pudb.cfg").write_text("[pudb]\nseen_welcome = zzz\n")  # a user who has seen pudb's welcome page
    env = child_env(TERM="xterm-256color", XDG_CONFIG_HOME=str(tmp_path / "config"))
    tmux = ["tmux", "-S", str(tmp_path / "tmux.sock")]
    command = f"{sys.executable} -m pyheapdump debug {dump} --debugger pudb"
    subprocess.run([*tmux, "new-session", "-d", "-x", "200", "-y", "50", command], env=env, check=True, timeout=30)

    def screen_when(text: str) -> str:
        deadline = time.monotonic() + 60
        screen = ""
        while time.monotonic() < deadline:
            screen = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True, timeout=30).stdout
            if text in screen:
                return screen
            time.sleep(0.3)
        raise AssertionError(f"{text!r} never showed:\n{screen}")

    try:
        dialog = screen_when("Program Terminated for Uncaught Exception")
        assert "RuntimeError: bad record 'c,oops'" in dialog
        assert "The above exception was the direct cause of the following exception:" in dialog
        subprocess.run([*tmux, "send-keys", "Enter"], timeout=30, check=True)
        screen = screen_when("Stack:")
        assert "record: 'c,oops'" in screen and "total: 3" in screen and "records: list (3)" in screen
        assert f">> load_all {program.name}:{marker_line(program, 'RERAISE_LINE')}" in screen
        assert f"main {program.name}:{marker_line(program, 'MAIN_CALL_LINE')}" in screen
        assert "raise RuntimeError" in screen
    finally:
        subprocess.run([*tmux, "kill-server"], timeout=30)


def test_pdbpp_session_has_the_same_stacks_and_commands(crash: tuple[Path, Path, str]) -> None:
    pytest.importorskip("pdbpp", reason="pdbpp is not installed (pip install pdbpp)")
    dump, _, _ = crash
    out = session(
        dump, "p record", "threads", "thread 2", "up 2", "p job_name", "c", "q", options=("--debugger", "pdbpp")
    )
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert "(Pdb++) " in out
    assert "'c,oops'" in out and "backup-worker" in out and "'nightly-backup'" in out
    assert "*** continue: this is a heap dump, not a running program" in out


def test_safe_pdb_in_an_imported_modules_frame_has_this_interpreters_builtins(tmp_path: Path) -> None:
    dump = tmp_path / "builtins.heapdump"
    program = Path(__file__).resolve().parents[1] / "programs" / "builtins_crash.py"
    made = subprocess.run([sys.executable, str(program), str(dump)], capture_output=True, text=True,
                          timeout=120, env=child_env(), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    out = session(dump, 'p getattr(first, "email")', 'p hasattr(first, "email")', "p sorted(vars(first))",
                  "print(len(customers))", "p next(iter(customers)).email", "import json", "p json.dumps([1, 2])",
                  "p isinstance(customers, list)", "q")
    assert "accounts.py" in out and "close_account()" in out
    assert "(Pdb) 'ada@example.com'\n(Pdb) True\n(Pdb) ['email']\n(Pdb) 2\n(Pdb) 'ada@example.com'\n" in out, out
    assert "(Pdb) '[1, 2]'\n(Pdb) True\n" in out, out
    assert "RebuildError" not in out
