"""Building for a free-threaded interpreter (3.14t) stops at once with a message saying why (README: Python versions).

Debian ships no free-threaded CPython, so the interpreter here is this one with its build configuration saying
Py_GIL_DISABLED = 1 (a sitecustomize module on its path answers sysconfig's question the way a 3.14t build does).
The build is configured by CMake exactly as `pip install` has scikit-build-core do it: with Python_EXECUTABLE.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

SITECUSTOMIZE = textwrap.dedent(
    """
    import sysconfig

    _real = sysconfig.get_config_var

    def get_config_var(name):
        return 1 if name == "Py_GIL_DISABLED" else _real(name)

    sysconfig.get_config_var = get_config_var
    """
)


def _configure(tmp_path: Path, python: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmake = shutil.which("cmake")
    assert cmake is not None, "cmake is not on PATH: scripts/test.sh installs it (the Debian package and the venv's)"
    import pybind11

    return subprocess.run([cmake, "-S", str(REPO), "-B", str(tmp_path / "build"), f"-DPython_EXECUTABLE={python}",
                           f"-Dpybind11_DIR={pybind11.get_cmake_dir()}"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def test_configuring_for_a_free_threaded_interpreter_fails_saying_so(tmp_path: Path) -> None:
    (tmp_path / "fake_free_threaded").mkdir()
    (tmp_path / "fake_free_threaded" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "fake_free_threaded")}
    question = "import sysconfig; print(sysconfig.get_config_var('Py_GIL_DISABLED'))"
    probe = subprocess.run([sys.executable, "-c", question], capture_output=True, text=True, env=env, timeout=60,
                           check=False)
    assert probe.stdout.strip() == "1", probe.stderr  # the stand-in answers like a free-threaded build

    configured = _configure(tmp_path, sys.executable, env)

    assert configured.returncode != 0
    message = " ".join(configured.stderr.split())  # CMake wraps long messages
    assert "pyheapdump does not support free-threaded Python" in message, configured.stderr
    assert "Install pyheapdump into a regular (GIL) build of the same version" in message
    assert not (tmp_path / "build" / "build.ninja").exists() and not (tmp_path / "build" / "Makefile").exists()


def test_a_regular_interpreter_passes_the_check(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    configured = _configure(tmp_path, sys.executable, env)
    assert configured.returncode == 0, configured.stderr
    assert "free-threaded" not in configured.stderr
