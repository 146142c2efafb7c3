"""`pyheapdump dump PID`: real target processes (programs/pid_target.py) dumped from outside by the CLI in a subprocess.

3.14+ targets are reached through sys.remote_exec, 3.11 targets through their signal hook; the error cases are the
real ones (an exited pid, `sleep`, PYTHON_DISABLE_REMOTE_DEBUG, a 3.11 process without the hook, another user).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from engine_support import PROGRAMS, REPO, child_env, interpreter, run_python

import pyheapdump

TIMEOUT = 120
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="`pyheapdump dump PID` reads /proc")


@functools.cache
def _python(version: str) -> str | None:
    found = interpreter(version)
    if found is not None:
        return found
    # where ../shared/tools/get-python installs one (issue 10); this tree's native module must be built for it
    candidate = Path(f"/opt/cpython-{version}/bin/python{version}")
    if candidate.exists() and run_python(["-c", "import pyheapdump._native"], python=candidate, cwd=REPO,
                                         timeout=60).returncode == 0:
        return str(candidate)
    return None


def python(version: str) -> str:
    found = _python(version)
    if found is None:
        pytest.skip(f"Python {version} with this tree's native module is not installed "
                    f"(bash scripts/dev-build.sh /path/to/python{version})")
    return found


# Runs a command in mount and pid namespaces of its own with its own /proc and a private /tmp: a container, as its host
# sees it. This checkout stays visible inside even when it is under /tmp (as CI's is): it is bound back from the /tmp
# that the new one hides (held open as fd 3; mount must not resolve that path to its name, /tmp/...).
_CONTAINER_SCRIPT = """
exec 3</tmp
mount -t tmpfs pyheapdump-test /tmp
IFS=:
for keep in $KEEP; do
  case $keep in /tmp/*)
    mkdir -p "$keep" && mount --no-canonicalize --bind "/proc/self/fd/3/${keep#/tmp/}" "$keep" || exit 1;;
  esac
done
unset IFS
exec 3<&-
exec "$@"
"""


def in_a_container(*keep: Path) -> list[str]:
    """The command line prefix that starts a program in a container; `keep` (besides this checkout) stays visible."""
    kept = ":".join(str(path) for path in (REPO, *keep))
    return ["unshare", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private",
            "env", f"KEEP={kept}", "sh", "-c", _CONTAINER_SCRIPT, "sh"]


@pytest.fixture
def containers() -> None:
    """Skips a test only where mount and pid namespaces cannot be made at all (not root, no unshare(1), a kernel or
    sandbox that refuses them): there `pyheapdump dump` has no container to reach either."""
    unavailable = _containers_unavailable()
    if unavailable:
        pytest.skip(unavailable)


@functools.cache
def _containers_unavailable() -> str | None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "making mount and pid namespaces needs root and unshare(1)"
    # Only whether namespaces can be made: a target that cannot start in one fails its test, with its error.
    tried = subprocess.run(["unshare", "--mount", "--pid", "--fork", "true"], capture_output=True, text=True,
                           timeout=60, check=False)
    return None if tried.returncode == 0 else f"this machine refuses namespaces: {tried.stderr.strip()}"


class Target:
    """pid_target.py running in the background; `ping()` proves it is still working. With `wrapper`, the program
    is started through it (in_a_container()), and `pid` is the Python process's, not the wrapper's."""

    def __init__(self, python: str, mode: str, *args: str, env: dict[str, str], cwd: Path,
                 wrapper: list[str] | None = None) -> None:
        self.process = subprocess.Popen([*(wrapper or []), python, str(PROGRAMS / "pid_target.py"), mode, *args],
                                        env=env, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.wrapped = wrapper is not None
        self.watchdog = threading.Timer(TIMEOUT, self.process.kill)  # a hung target ends the reads with EOF
        self.watchdog.start()
        self.stderr: str | None = None
        line = self.process.stdout.readline().strip()
        assert line == "ready", f"the target did not start: {line!r} {self.process.stderr.read()}"

    @property
    def pid(self) -> int:
        if not self.wrapped:
            return self.process.pid
        # unshare --fork: its one child is the shell that became Python
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        assert len(children) == 1, children
        return int(children[0])

    def send(self, command: str) -> None:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def ping(self) -> int:
        self.send("ping")
        answer = self.process.stdout.readline().strip()
        assert answer.startswith("pong "), f"the target stopped answering: {answer!r}"
        return int(answer.split()[1])

    def finish(self) -> str:
        """Ends the target through its stdin; returns its stderr."""
        if self.stderr is None:
            try:
                self.stderr = self.process.communicate(timeout=TIMEOUT)[1]  # closes stdin: the target ends
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.stderr = self.process.communicate()[1]
            finally:
                self.watchdog.cancel()
        return self.stderr


@pytest.fixture
def targets():
    started: list[Target] = []

    def start(python: str, mode: str, *args: str, env: dict[str, str] | None = None, cwd: Path,
              wrapper: list[str] | None = None) -> Target:
        target = Target(python, mode, *args, env=env if env is not None else child_env(), cwd=cwd, wrapper=wrapper)
        started.append(target)
        return target

    yield start
    for target in started:
        target.finish()


def without_pyheapdump() -> dict[str, str]:
    """A target's environment in which pyheapdump is not importable."""
    env = child_env()
    env.pop("PYTHONPATH")
    return env


def dump_cli(cli_python: str, *args: object, cwd: Path, user: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([cli_python, "-m", "pyheapdump", "dump", *map(str, args)], env=child_env(), cwd=cwd,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False, user=user,
                          group=user, extra_groups=[] if user is not None else None)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyheapdump: error: "), result.stderr
    assert result.stdout == ""
    return lines[0]


def printed_dump(result: subprocess.CompletedProcess[str]) -> Path:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    path = Path(result.stdout.strip())
    assert path.is_file(), result.stdout
    return path


def request_folders(pid: int) -> list[Path]:
    return list(Path("/tmp").glob(f"pyheapdump-dump-{pid}-*"))


def check_live_dump(path: Path, target: Target, *, all_threads: bool = True,
                    pid: int | None = None) -> pyheapdump.HeapDump:
    """The target's threads as they were, with their locals, and no frame of the request's own."""
    dump = pyheapdump.load_dump(path)
    names = sorted(thread.name for thread in dump.threads)
    assert names == (["MainThread", "control", "worker-0", "worker-1"] if all_threads else ["MainThread"])
    main = next(thread for thread in dump.threads if thread.name == "MainThread")
    codes = [frame.f_code for frame in main.frames]
    assert [code.co_qualname for code in codes][-1] == "main_loop", [c.co_qualname for c in codes]
    assert all(code.co_filename == str(PROGRAMS / "pid_target.py") for code in codes), [c.co_filename for c in codes]
    innermost = main.frames[-1]
    assert innermost.f_locals["main_marker"] == {"service": "orders", "answer": 42}
    assert dump.frame is not None and dump.frame.f_code.co_qualname == "main_loop"
    if all_threads:
        for number in (0, 1):
            worker = next(thread for thread in dump.threads if thread.name == f"worker-{number}")
            frame = next(frame for frame in worker.frames if frame.f_code.co_qualname == "worker")
            assert frame.f_locals == {"number": number, "worker_marker": f"worker-marker-{number}"}
    assert dump.metadata["pid"] == (target.pid if pid is None else pid)
    return dump


# --- 3.14+: sys.remote_exec -------------------------------------------------------------------------------------------


def test_dumps_a_314_process_that_installed_nothing(targets, tmp_path):
    """The 3.14 target has no pyheapdump: the command lends it its own copy (built for 3.14); the target runs on."""
    py314 = python("3.14")
    target = targets(py314, "plain", env=without_pyheapdump(), cwd=tmp_path)
    before = target.ping()
    out = tmp_path / "dumps"
    result = dump_cli(py314, target.pid, "--directory", out, cwd=tmp_path)
    path = printed_dump(result)
    assert path.parent == out and re.fullmatch(rf"pid_target-{target.pid}-\d{{8}}T\d{{6}}\.\d+Z\.heapdump", path.name)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    dump = check_live_dump(path, target)
    assert dump.metadata["reason"] == "remote"
    assert dump.metadata["executable"] == py314
    assert dump.threads[0].name == "MainThread" and dump.threads[0].current  # the thread that wrote the dump
    assert target.ping() > before  # still working after the dump
    assert request_folders(target.pid) == []
    assert "Error" not in target.finish()


def test_a_314_process_in_a_container_of_its_own(targets, tmp_path, containers):
    """A target in mount and pid namespaces of its own, with its own /tmp (a container seen from its host): the
    request goes into its /tmp through /proc/PID/root, and its dump is fetched to where the command was asked."""
    py314 = python("3.14")
    target = targets(py314, "plain", cwd=tmp_path, wrapper=in_a_container())
    their_tmp = Path(f"/proc/{target.pid}/root/tmp")
    assert os.stat(f"/proc/{target.pid}/ns/mnt").st_ino != os.stat("/proc/self/ns/mnt").st_ino
    before = target.ping()
    here = tmp_path / "here"
    here.mkdir()
    path = printed_dump(dump_cli(py314, target.pid, cwd=here))  # no -o or --directory: the current directory
    # named by the target, with the pid it has in its own namespace
    assert path.parent == here and re.fullmatch(r"pid_target-1-\d{8}T\d{6}\.\d+Z\.heapdump", path.name), path
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    dump = check_live_dump(path, target, pid=1)
    assert dump.metadata["reason"] == "remote"
    # the pid the command was given, beside the target's own (1)
    assert f"asked by `pyheapdump dump {target.pid}` (process " in dump.metadata["description"]
    named = tmp_path / "named.heapdump"
    assert printed_dump(dump_cli(py314, target.pid, "-o", named, cwd=here)) == named
    check_live_dump(named, target, pid=1)
    assert target.ping() > before  # still working after the dumps
    # nothing left in either /tmp: the request folder there, its twin here (sys.remote_exec looks for the script)
    assert list(their_tmp.glob("pyheapdump-dump-*")) == [] and request_folders(target.pid) == []
    assert "Error" not in target.finish()


_LYING_SERVE_REQUEST = """
import json, os


def serve_request(request):
    # A container's own pyheapdump that answers with a file of the host's, outside the request folder.
    with open(os.path.join(request["folder"], "reply.json"), "w") as stream:
        json.dump({"ok": True, "path": "/etc/hostname"}, stream)
"""


def test_a_container_that_answers_with_a_path_outside_its_request_folder_gets_nothing_copied(
        targets, tmp_path, containers):
    """The command copies only the request folder's own file out of a container: a reply naming another path (a
    hostile container's pyheapdump) is refused, and nothing is written here."""
    py314 = python("3.14")
    fake = tmp_path / "fake"
    (fake / "pyheapdump" / "capture").mkdir(parents=True)
    (fake / "pyheapdump" / "__init__.py").write_text("")
    (fake / "pyheapdump" / "capture" / "__init__.py").write_text("")
    (fake / "pyheapdump" / "capture" / "remote.py").write_text(_LYING_SERVE_REQUEST)
    env = without_pyheapdump()
    env["PYTHONPATH"] = str(fake)  # under /tmp: kept visible in the container
    target = targets(py314, "plain", env=env, cwd=tmp_path, wrapper=in_a_container(fake))
    here = tmp_path / "here"
    here.mkdir()
    line = one_error_line(dump_cli(py314, target.pid, cwd=here))
    assert "answered with a dump outside the request folder: '/etc/hostname'" in line
    assert list(here.iterdir()) == []
    assert list(Path(f"/proc/{target.pid}/root/tmp").glob("pyheapdump-dump-*")) == []


def test_a_311_command_dumps_a_314_process_through_its_interpreter(targets, tmp_path):
    """sys.remote_exec needs the target's version: a command on 3.11 calls it from the target's own 3.14 binary.
    The target imports its own pyheapdump here; -o, --no-threads and a limit reach save_dump in the target."""
    py314, py311 = python("3.14"), python("3.11")
    target = targets(py314, "plain", cwd=tmp_path)
    wanted = tmp_path / "relative" / "service.heapdump"
    wanted.parent.mkdir()
    result = dump_cli(py311, target.pid, "-o", "relative/service.heapdump", "--no-threads", "--max-objects", "100000",
                      "--limit", "max_repr=77", cwd=tmp_path)
    assert printed_dump(result) == wanted
    check_live_dump(wanted, target, all_threads=False)
    header = pyheapdump.read_header(wanted)
    assert header["limits"]["max_objects"] == 100000 and header["limits"]["max_repr"] == 77
    assert target.ping() > 0


def test_a_binary_named_plain_python(targets, tmp_path):
    """A venv made with --copies runs `bin/python`, a copy whose name has no version: the command asks the binary
    itself (from its own path, where it finds its venv) and calls sys.remote_exec through it."""
    py314, py311 = python("3.14"), python("3.11")
    subprocess.run([py314, "-m", "venv", "--copies", "--without-pip", tmp_path / "venv"], check=True, timeout=TIMEOUT)
    copied = tmp_path / "venv" / "bin" / "python"
    assert not copied.is_symlink()
    target = targets(str(copied), "plain", env=without_pyheapdump(), cwd=tmp_path)
    path = printed_dump(dump_cli(py311, target.pid, cwd=tmp_path))
    dump = check_live_dump(path, target)
    assert dump.metadata["executable"] == str(copied)
    assert target.ping() >= 0


def test_a_314_process_that_cannot_import_pyheapdump_is_told_what_to_install(targets, tmp_path):
    py314 = python("3.14")
    target = targets(py314, "plain", env=without_pyheapdump(), cwd=tmp_path)
    line = one_error_line(dump_cli(py314, target.pid, "--no-lend", cwd=tmp_path))
    assert f"process {target.pid} cannot import pyheapdump (ModuleNotFoundError" in line
    assert "-m pip install pyheapdump" in line and "python3.14" in line and "sys.prefix is /" in line
    assert target.ping() >= 0
    assert request_folders(target.pid) == []


def test_a_314_process_whose_own_pyheapdump_cannot_serve_is_not_given_another(targets, tmp_path):
    """An old pyheapdump of the target's (here one without pyheapdump.capture.remote) is the target's to upgrade:
    lending this command's copy would shadow it for the program."""
    py314 = python("3.14")
    old = tmp_path / "old" / "pyheapdump"
    old.mkdir(parents=True)
    (old / "__init__.py").write_text('__version__ = "0.1"\n')
    env = without_pyheapdump()
    env["PYTHONPATH"] = str(old.parent)
    target = targets(py314, "plain", env=env, cwd=tmp_path)
    line = one_error_line(dump_cli(py314, target.pid, cwd=tmp_path))
    assert f"process {target.pid} has a pyheapdump ({old / '__init__.py'}) that cannot serve `pyheapdump dump`" in line
    assert "No module named 'pyheapdump.capture" in line and "-m pip install -U pyheapdump" in line
    assert target.ping() >= 0


def test_a_315_process_from_a_314_command(targets, tmp_path):
    py315, py314 = python("3.15"), python("3.14")
    target = targets(py315, "plain", env=without_pyheapdump(), cwd=tmp_path)
    path = printed_dump(dump_cli(py314, target.pid, cwd=tmp_path))
    assert path.parent == tmp_path
    check_live_dump(path, target)
    assert pyheapdump.read_header(path)["python"].startswith("3.15.")
    assert target.ping() >= 0


def test_remote_debugging_turned_off(targets, tmp_path):
    py314 = python("3.14")
    env = without_pyheapdump()
    env["PYTHON_DISABLE_REMOTE_DEBUG"] = "1"
    target = targets(py314, "plain", env=env, cwd=tmp_path)
    line = one_error_line(dump_cli(py314, target.pid, cwd=tmp_path))
    assert f"process {target.pid} has remote debugging turned off (PYTHON_DISABLE_REMOTE_DEBUG" in line
    assert "signal hook" in line
    assert request_folders(target.pid) == []
    assert target.ping() >= 0


def test_remote_debugging_turned_off_but_a_signal_hook_answers(targets, tmp_path):
    py314 = python("3.14")
    hook_dir = tmp_path / "hook"
    target = targets(py314, "hook", str(hook_dir), env=child_env(PYTHON_DISABLE_REMOTE_DEBUG="1"), cwd=tmp_path)
    result = dump_cli(py314, target.pid, cwd=tmp_path)
    path = printed_dump(result)
    assert path.parent == hook_dir
    assert "sys.remote_exec was refused" in result.stderr and "signal hook" in result.stderr
    check_live_dump(path, target)
    assert target.ping() >= 0


def test_a_blocked_main_thread_times_out_and_the_late_request_does_nothing(targets, tmp_path):
    """The request runs only when the main thread next runs bytecode; after the timeout the command claims it, so
    when the thread wakes the script writes nothing and removes its folder."""
    py314 = python("3.14")
    target = targets(py314, "blocked", env=without_pyheapdump(), cwd=tmp_path)
    line = one_error_line(dump_cli(py314, target.pid, "--timeout", "1", cwd=tmp_path))
    assert f"process {target.pid} did not take the request within 1 s" in line and "main thread" in line
    assert len(request_folders(target.pid)) == 1  # the script stays: the target may still read it
    target.send("release")
    first = target.ping()
    assert target.ping() >= first
    deadline = time.monotonic() + 30
    while request_folders(target.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert request_folders(target.pid) == []
    assert list(tmp_path.glob("*.heapdump")) == []
    assert "Error" not in target.finish()


# --- 3.11-3.13: the signal hook ---------------------------------------------------------------------------------------


def test_a_311_process_with_the_signal_hook_is_asked_through_its_signal(targets, tmp_path):
    py311 = python("3.11")
    hook_dir = tmp_path / "hook"
    target = targets(py311, "hook", str(hook_dir), cwd=tmp_path)
    first = printed_dump(dump_cli(py311, target.pid, cwd=tmp_path))
    assert first.parent == hook_dir  # no -o / --directory: where the hook writes
    check_live_dump(first, target)
    header = pyheapdump.read_header(first)
    assert header["reason"] == "signal" and f"asked by `pyheapdump dump {target.pid}`" in header["description"]
    # The command's request reaches the hook: where to write, threads, heap and limits.
    asked = tmp_path / "asked.heapdump"
    result = dump_cli(py311, target.pid, "-o", asked, "--no-threads", "--max-objects", "123456", cwd=tmp_path)
    assert printed_dump(result) == asked and result.stderr == ""
    check_live_dump(asked, target, all_threads=False)
    assert pyheapdump.read_header(asked)["limits"]["max_objects"] == 123456
    elsewhere = tmp_path / "elsewhere"
    whole = printed_dump(dump_cli(py311, target.pid, "--heap", "--directory", elsewhere, cwd=tmp_path))
    assert whole.parent == elsewhere and "heap" in pyheapdump.read_header(whole)
    assert sorted(path.name for path in hook_dir.iterdir()) == [first.name]  # nothing else written there
    assert not list(Path(f"/tmp/pyheapdump-{os.geteuid()}").glob(f"request-{target.pid}.json"))
    assert target.ping() >= 0
    # A hook of a pyheapdump before requests (its announcement does not say it reads them) gets the signal alone:
    # its own settings, said in a note, and the dump moved to -o.
    announcement = Path(f"/tmp/pyheapdump-{os.geteuid()}") / f"signal-{target.pid}.json"
    older = json.loads(announcement.read_text())
    del older["requests"]
    announcement.write_text(json.dumps(older))
    moved_to = tmp_path / "moved.heapdump"
    result = dump_cli(py311, target.pid, "-o", moved_to, "--max-objects", "10", cwd=tmp_path)
    assert printed_dump(result) == moved_to
    assert "limits, --no-threads and --heap given here were not applied" in result.stderr
    check_live_dump(moved_to, target)
    target.finish()
    # the hook withdrew its announcement at exit
    assert not announcement.exists()


def test_a_311_process_in_a_container_is_asked_through_its_signal(targets, tmp_path, containers):
    """The hook of a target in namespaces of its own announces itself in its own /tmp, under the pid it has there, and
    writes into its own filesystem: the command finds it through /proc/PID/root and moves the dump out to here."""
    py311 = python("3.11")
    hook_dir = tmp_path / "hook"  # under /tmp: the target's own /tmp, not this one
    target = targets(py311, "hook", str(hook_dir), cwd=tmp_path, wrapper=in_a_container())
    target.ping()
    here = tmp_path / "here"
    here.mkdir()
    path = printed_dump(dump_cli(py311, target.pid, cwd=here))
    assert path.parent == here and re.fullmatch(r"pid_target-1-\d{8}T\d{6}\.\d+Z\.heapdump", path.name), path
    check_live_dump(path, target, pid=1)
    header = pyheapdump.read_header(path)
    assert header["reason"] == "signal" and f"asked by `pyheapdump dump {target.pid}`" in header["description"]
    their_hook_dir = Path(f"/proc/{target.pid}/root{hook_dir}")
    assert not hook_dir.exists() and list(their_hook_dir.glob("*.heapdump")) == []  # moved out of the container
    named = tmp_path / "named.heapdump"
    assert printed_dump(dump_cli(py311, target.pid, "-o", named, cwd=here)) == named
    check_live_dump(named, target, pid=1)
    assert target.ping() >= 0
    assert "Error" not in target.finish()


def test_a_311_process_without_the_hook(targets, tmp_path):
    py311 = python("3.11")
    target = targets(py311, "plain", cwd=tmp_path)
    line = one_error_line(dump_cli(py311, target.pid, cwd=tmp_path))
    assert f"process {target.pid} (" in line and "Python 3.11 has no sys.remote_exec (3.14+)" in line
    assert "pyheapdump.install(directory, signal=signal.SIGUSR1)" in line and "PYHEAPDUMP_SIGNAL=USR1" in line


def test_a_stale_announcement_of_an_exited_hook_process_is_not_used(targets, tmp_path):
    """A process that installed the hook and was killed leaves its announcement; its pid is then no process."""
    py311 = python("3.11")
    target = Target(py311, "hook", str(tmp_path), env=child_env(), cwd=tmp_path)
    target.process.kill()
    target.finish()
    announcement = Path(f"/tmp/pyheapdump-{os.geteuid()}") / f"signal-{target.pid}.json"
    assert announcement.exists()
    line = one_error_line(dump_cli(py311, target.pid, cwd=tmp_path))
    assert f"no process {target.pid}: it has exited" in line
    # the next process that announces a hook removes the announcements of dead ones
    targets(py311, "hook", str(tmp_path), cwd=tmp_path)
    assert not announcement.exists()


# --- anything else: one line saying why ------------------------------------------------------------------------------


def test_an_exited_process(tmp_path):
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    line = one_error_line(dump_cli(sys.executable, zombie.pid, cwd=tmp_path))
    assert f"process {zombie.pid} has exited (its parent has not reaped it yet)" in line
    zombie.wait()
    gone = zombie
    line = one_error_line(dump_cli(sys.executable, gone.pid, cwd=tmp_path))
    assert line == (f"pyheapdump: error: no process {gone.pid}: it has exited (or never existed); check the pid "
                    f"with `ps -p {gone.pid}`")


def test_a_process_that_is_not_python(tmp_path):
    sleeper = subprocess.Popen(["sleep", "100"])
    try:
        line = one_error_line(dump_cli(sys.executable, sleeper.pid, cwd=tmp_path))
        assert f"process {sleeper.pid} ({shutil.which('sleep')}" in line or f"process {sleeper.pid} (/" in line
        assert "does not look like Python" in line
        assert sleeper.poll() is None  # the command sent it nothing
    finally:
        sleeper.send_signal(signal.SIGTERM)
        sleeper.wait()


def _others_may_run(python: Path) -> bool:
    real = python.resolve()
    folders_open = all(folder.stat().st_mode & 0o001 for folder in [*real.parents, *REPO.parents, REPO])
    return folders_open and bool(real.stat().st_mode & 0o001)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the command as another user")
def test_a_process_of_another_user(targets, tmp_path):
    usable = [found for found in map(_python, ("3.14", "3.15", "3.13", "3.12", "3.11"))
              if found is not None and _others_may_run(Path(found))]
    if not usable:
        pytest.skip("no interpreter with this tree's native module that another user may run")
    target = targets(usable[0], "plain", cwd=tmp_path)
    tmp_path.chmod(0o777)
    nobody = 65534
    line = one_error_line(dump_cli(usable[0], target.pid, cwd=tmp_path, user=nobody))
    assert f"process {target.pid} runs as root (uid 0)" in line and "run `pyheapdump dump" in line
    assert "as that user" in line and "or as root" in line


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a target and the command as another user")
@pytest.mark.parametrize("mode", ["plain", "undumpable"])
def test_a_user_dumps_a_process_of_its_own_unless_it_is_undumpable(tmp_path, mode):
    """Without root: the same user may read its process's memory (no Yama restriction on this machine), unless the
    process made itself undumpable, which is a permission error that says what to do."""
    usable = [found for found in map(_python, ("3.14", "3.15")) if found is not None and _others_may_run(Path(found))]
    if not usable:
        pytest.skip("no 3.14+ interpreter with this tree's native module that another user may run")
    shared = Path(tempfile.mkdtemp(prefix="pyheapdump-test-", dir="/tmp"))
    shared.chmod(0o777)
    nobody = 65534
    process = subprocess.Popen([usable[0], str(PROGRAMS / "pid_target.py"), mode], env=child_env(), cwd=shared,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               user=nobody, group=nobody, extra_groups=[])
    try:
        assert process.stdout.readline().strip() == "ready"
        result = dump_cli(usable[0], process.pid, "--directory", shared, cwd=shared, user=nobody)
        if mode == "plain":
            path = printed_dump(result)
            assert pyheapdump.load_dump(path).metadata["pid"] == process.pid
        else:
            line = one_error_line(result)
            assert f"permission denied reading process {process.pid}'s memory" in line
            assert "undumpable" in line and "root" in line
    finally:
        stderr = process.communicate(timeout=TIMEOUT)[1]
        shutil.rmtree(shared)
    assert "Error" not in stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a target as another user")
def test_root_dumps_a_process_of_another_user(tmp_path):
    """As root the command may read anyone's process; the request folder is handed to the target's user, who writes
    the dump (into a directory that user may write)."""
    usable = [found for found in map(_python, ("3.14", "3.15")) if found is not None and _others_may_run(Path(found))]
    if not usable:
        pytest.skip("no 3.14+ interpreter with this tree's native module that another user may run")
    shared = Path(tempfile.mkdtemp(prefix="pyheapdump-test-", dir="/tmp"))  # pytest's folders are root's alone
    shared.chmod(0o777)
    nobody = 65534
    process = subprocess.Popen([usable[0], str(PROGRAMS / "pid_target.py"), "plain"], env=child_env(), cwd=shared,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               user=nobody, group=nobody, extra_groups=[])
    try:
        assert process.stdout.readline().strip() == "ready"
        path = printed_dump(dump_cli(usable[0], process.pid, "--directory", shared, cwd=tmp_path))
        assert path.stat().st_uid == nobody
        dump = pyheapdump.load_dump(path)
        assert dump.metadata["pid"] == process.pid and "worker-1" in {thread.name for thread in dump.threads}
        assert request_folders(process.pid) == []
    finally:
        stderr = process.communicate(timeout=TIMEOUT)[1]
        shutil.rmtree(shared)
    assert "Error" not in stderr


def test_bad_arguments_exit_2(tmp_path):
    result = dump_cli(sys.executable, os.getpid(), "--limit", "max_things=3", cwd=tmp_path)
    assert result.returncode == 2 and "unknown limits ['max_things']" in result.stderr
    result = dump_cli(sys.executable, os.getpid(), "--max-objects", "many", cwd=tmp_path)
    assert result.returncode == 2 and "the limit max_objects takes a number (or none), not 'many'" in result.stderr
    result = dump_cli(sys.executable, os.getpid(), "-o", "a", "--directory", "b", cwd=tmp_path)
    assert result.returncode == 2 and "not allowed with argument" in result.stderr


def test_heap_asks_the_target_for_a_whole_heap_dump_that_the_analysis_reads(targets, tmp_path):
    """--heap: the target's save_dump(heap=True) roots every module too, so `pyheapdump paths` finds the target's
    module-level state by the module that holds it, and the target runs on."""
    py314 = python("3.14")
    target = targets(py314, "plain", env=without_pyheapdump(), cwd=tmp_path)
    path = printed_dump(dump_cli(py314, target.pid, "--heap", "-o", tmp_path / "heap.heapdump", cwd=tmp_path))
    assert pyheapdump.read_header(path)["heap"]["unreached_count"] >= 0
    shown = subprocess.run([py314, "-m", "pyheapdump", "paths", path, "threading.Event", "--json"], cwd=REPO,
                           capture_output=True, text=True, timeout=TIMEOUT)
    assert shown.returncode == 0, shown.stderr
    via = [" > ".join(step["via"] for step in found) for found in json.loads(shown.stdout)]
    assert any(text.startswith("module __main__ > global 'release'") for text in via), via
    assert target.ping() > 0
