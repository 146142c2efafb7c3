"""Helpers for the capture tests: run the programs in tests/python/programs in real subprocesses, find their dumps."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import venv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from debug_support import child_env  # noqa: F401 - one child environment for every test

import pyheapdump

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = Path(__file__).resolve().parent / "programs"
PACKAGE_PARENT = Path(pyheapdump.__file__).resolve().parent.parent
PTH_FILE = REPO / "pyheapdump_autoinstall.pth"
TIMEOUT = 120


def run_python(
    args: Iterable[str | os.PathLike[str]],
    *,
    python: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python or sys.executable), *map(str, args)],
        env=env if env is not None else child_env(),
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def run_program(name: str, *args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return run_python([PROGRAMS / name, *map(str, args)], **kwargs)


def dumps_in(directory: Path) -> list[Path]:
    """The finished dumps in `directory` (not hidden files such as a dump still being written)."""
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.glob("*.heapdump") if not path.name.startswith(".") and path.is_file())


def only_dump(directory: Path, completed: subprocess.CompletedProcess[str] | None = None) -> Path:
    found = dumps_in(directory)
    context = f"\nstdout:\n{completed.stdout}\nstderr:\n{completed.stderr}" if completed is not None else ""
    assert len(found) == 1, f"expected one dump in {directory}, found {[p.name for p in found]}{context}"
    return found[0]


def frame_named(frames: Iterable[Any], qualname: str) -> Any:
    frames = list(frames)
    for frame in frames:
        if frame.f_code.co_qualname == qualname:
            return frame
    raise AssertionError(f"no frame {qualname!r} among {[f.f_code.co_qualname for f in frames]}")


def thread_named(dump: Any, name: str) -> Any:
    for thread in dump.threads:
        if thread.name == name:
            return thread
    raise AssertionError(f"no stack named {name!r} among {[t.name for t in dump.threads]}")


def make_site_venv(directory: Path) -> Path:
    """A venv (system site-packages visible) whose site-packages holds pyheapdump's .pth file, as the wheel installs it.

    Returns its python. This pyheapdump is importable there through PYTHONPATH (child_env), so the .pth line runs
    against the code under test even when the package itself is not installed.
    """
    venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=True).create(directory)
    python = directory / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        env=child_env(),
        timeout=TIMEOUT,
    ).stdout.strip()
    shutil.copy(PTH_FILE, Path(purelib) / PTH_FILE.name)
    return python


def site_packages_of_this_python() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def read_dump_announcement(stream, seen: list[str] | None = None) -> str:
    """The service's line saying where the dump went; fails at once on the line saying the dump failed. Every line
    read, the announcement included, is appended to `seen` when given."""
    seen = [] if seen is None else seen
    for line in stream:
        seen.append(line)
        assert "pyheapdump: no heap dump" not in line, line
        if "heap dump written to" in line:
            return line
    raise AssertionError(f"the service never announced its dump; stderr was {seen}")


def talk_to_service(service: subprocess.Popen[str]) -> str:
    """Serve a line, signal, serve another: returns the service's line announcing the signal's dump."""
    watchdog = threading.Timer(TIMEOUT, service.kill)  # a hung service ends the reads below with EOF, not a hang
    watchdog.start()
    try:
        assert service.stdout.readline().strip() == "ready"
        service.stdin.write("first\n")
        service.stdin.flush()
        assert service.stdout.readline().strip() == "handled first (1)"

        service.send_signal(signal.SIGUSR1)
        announced = read_dump_announcement(service.stderr)

        service.stdin.write("second\n")
        service.stdin.flush()
        assert service.stdout.readline().strip() == "handled second (2)"  # still serving after the dump
        service.stdin.close()
        assert service.wait(timeout=TIMEOUT) == 0
        return announced
    finally:
        watchdog.cancel()
        if service.poll() is None:
            service.kill()
