"""Helpers for the dump engine's tests: run the engine_* programs in real subprocesses, find marked lines.

Every dump the engine tests look at is written by a separate Python process (tests/python/programs/engine_*.py)
and loaded through the public API (pyheapdump.load_dump, read_header, surrogate_info).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = Path(__file__).resolve().parent / "programs"
TIMEOUT = 180
# Where the three supported interpreters live on the project's machines (pyenv); PATH is searched too.
PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"


def child_env(extra_paths: Iterable[str | os.PathLike[str]] = (), **extra: str) -> dict[str, str]:
    """A child's environment: this tree's pyheapdump importable (plus extra_paths), no PYHEAPDUMP_* settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYHEAPDUMP_")}
    env["PYTHONPATH"] = os.pathsep.join([*(os.fspath(p) for p in extra_paths), str(REPO)])
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONSAFEPATH", None)
    env.update(extra)
    return env


def run_python(args: Iterable[str | os.PathLike[str]], *, python: str | os.PathLike[str] | None = None,
               cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None,
               timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python or sys.executable), *map(str, args)],
        cwd=cwd,
        env=env if env is not None else child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_program(name: str, *args: Any, python: str | os.PathLike[str] | None = None,
                cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None,
                program_dir: Path = PROGRAMS) -> subprocess.CompletedProcess[str]:
    """Runs tests/python/programs/<name> (or program_dir/<name>); fails the test with its output if it fails."""
    result = run_python([program_dir / name, *map(str, args)], python=python, cwd=cwd, env=env)
    assert result.returncode == 0, f"{name} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def last_json_line(output: str) -> Any:
    """The JSON report a program prints last."""
    lines = [line for line in output.splitlines() if line.startswith(("{", "["))]
    assert lines, f"no JSON report in the output:\n{output}"
    return json.loads(lines[-1])


def marked_line(path: Path, marker: str) -> int:
    """The line number of the line that carries `# MARKER` in path."""
    pattern = re.compile(rf"#\s*{re.escape(marker)}\b")
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if pattern.search(line):
            return number
    raise AssertionError(f"no line marked {marker} in {path}")


def frame_named(frames: Iterable[Any], qualname: str) -> Any:
    found = [frame for frame in frames if frame.f_code.co_qualname == qualname]
    assert found, f"no frame {qualname} among {[f.f_code.co_qualname for f in frames]}"
    return found[-1]


def interpreter(version: str) -> str | None:
    """A Python `version` ("3.13") that can import this tree's pyheapdump (its native module is built for it)."""
    candidates = sorted(PYENV_VERSIONS.glob(f"{version}.*/bin/python"), reverse=True)
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        probe = run_python(["-c", "import pyheapdump._native"], python=candidate, cwd=REPO, timeout=60)
        if probe.returncode == 0:
            return str(candidate)
    return None


def require_interpreter(version: str) -> str:
    found = interpreter(version)
    if found is None:
        pytest.skip(f"Python {version} with this tree's native module is not installed "
                    f"(install it with pyenv, then run: bash scripts/dev-build.sh /path/to/python{version})")
    return found


def running_version() -> str:
    return "{}.{}".format(*sys.version_info[:2])
