"""Helpers for the debugger and command-line tests: real dumps from real crashing programs, the CLI in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyheapdump

PROGRAMS = Path(__file__).resolve().parent / "programs"
PACKAGE_PARENT = Path(pyheapdump.__file__).resolve().parent.parent
TIMEOUT = 120
CRASH_PROGRAM = "crash_with_threads.py"


def child_env(**extra: str | None) -> dict[str, str]:
    """A child's environment: this pyheapdump importable, no colour forced, no inherited dump settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYHEAPDUMP_", "FORCE_COLOR", "NO_COLOR"))}
    paths = [str(PACKAGE_PARENT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_cli(
    *args: str | os.PathLike[str], input: str | None = "", **env: str | None
) -> subprocess.CompletedProcess[str]:
    """`python -m pyheapdump ARGS` with `input` on stdin."""
    return subprocess.run(
        [sys.executable, "-m", "pyheapdump", *map(str, args)],
        input=input,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=child_env(**env),
    )


def crash_and_dump(directory: Path, *program_args: str) -> tuple[Path, Path, str]:
    """Copy the crashing program into `directory`, run it there; return (dump, program copy, its stdout)."""
    directory.mkdir(parents=True, exist_ok=True)
    program = directory / CRASH_PROGRAM
    shutil.copy(PROGRAMS / CRASH_PROGRAM, program)
    dump = directory / "crash.heapdump"
    completed = subprocess.run(
        [sys.executable, str(program), str(dump), *program_args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=child_env(),
        cwd=directory,
    )
    assert completed.returncode == 0, completed.stderr
    assert dump.exists(), completed.stdout + completed.stderr
    return dump, program, completed.stdout


def marker_line(program: Path, marker: str) -> int:
    """The line number of the line of `program` that carries `# MARKER`."""
    for number, line in enumerate(program.read_text().splitlines(), start=1):
        if line.rstrip().endswith(f"# {marker}"):
            return number
    raise AssertionError(f"{marker} not in {program}")
