"""The built wheel, installed with plain `pip install` into a fresh virtual environment with no extras, gives a CLI
whose every subcommand works: nothing outside the pytest plugin needs pytest (or any other package)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_ide import serving

REPO = Path(__file__).resolve().parents[3]
TIMEOUT = 600

PROGRAM = '''
import threading

class Basket:
    def __init__(self, items):
        self.items = items

def checkout(basket):
    total = sum(basket.items)
    return total / (len(basket.items) - 3)

checkout(Basket([1, 2, 3]))
'''


def _clean_env() -> dict[str, str]:
    # No PYTHONPATH: only what the venv installed is importable; no PYHEAPDUMP_* settings from the test run.
    return {key: value for key, value in os.environ.items()
            if not key.startswith(("PYHEAPDUMP_", "PYTHON")) and key != "VIRTUAL_ENV"}


def _run(args: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=_clean_env(), input=stdin, capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)


@pytest.fixture(scope="module")
def clean_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding only the wheel built from this tree (pip's own packages aside)."""
    root = tmp_path_factory.mktemp("clean-install")
    wheel_dir = root / "wheels"
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                  "-w", str(wheel_dir), str(REPO)], cwd=root)
    assert built.returncode == 0, f"building the wheel failed:\n{built.stdout}\n{built.stderr}"
    (wheel,) = wheel_dir.glob("pyheapdump-*.whl")
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], cwd=root)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    installed = _run([str(python), "-m", "pip", "install", "-q", "--no-index", str(wheel)], cwd=root)
    assert installed.returncode == 0, f"pip install of the wheel failed:\n{installed.stdout}\n{installed.stderr}"
    listed = _run([str(python), "-m", "pip", "list", "--format=freeze"], cwd=root)
    others = {line.split("==")[0].lower() for line in listed.stdout.split()} - {"pip", "setuptools", "pyheapdump"}
    assert not others, f"the clean venv holds more than the wheel: {others}"
    return venv


@pytest.fixture(scope="module")
def crash_dump(clean_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pyheapdump run` (the installed console script) on a crashing program leaves a dump."""
    work = tmp_path_factory.mktemp("clean-run")
    (work / "shop.py").write_text(PROGRAM)
    result = _run([str(clean_venv / "bin" / "pyheapdump"), "run", "--directory", str(work / "dumps"), "shop.py"],
                  cwd=work)
    assert result.returncode == 1, f"the crash should exit 1:\n{result.stdout}\n{result.stderr}"
    assert "ZeroDivisionError" in result.stderr
    (dump,) = (work / "dumps").glob("*.heapdump")
    return dump


@pytest.mark.slow
def test_the_clean_venv_has_no_pytest_and_the_package_imports_without_it(clean_venv: Path) -> None:
    result = _run([str(clean_venv / "bin" / "python"), "-c",
                   "import importlib.util, sys, pyheapdump, pyheapdump.cli, pyheapdump.capture.hooks;"
                   "import pyheapdump.cli.run, pyheapdump.cli.debug, pyheapdump.cli.serve;"
                   "print(importlib.util.find_spec('pytest'), 'pytest' in sys.modules)"], cwd=clean_venv)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "False"]


@pytest.mark.slow
def test_the_installed_package_ships_the_native_modules_type_stub(clean_venv: Path) -> None:
    result = _run([str(clean_venv / "bin" / "python"), "-c",
                   "import pathlib, pyheapdump._native as native;"
                   "stub = pathlib.Path(native.__file__).with_name('_native.pyi');"
                   "print(stub.is_file(), 'class Rebuilder:' in stub.read_text())"], cwd=clean_venv)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


@pytest.mark.slow
def test_the_wheel_ships_py_typed_and_the_version_written_once(clean_venv: Path) -> None:
    result = _run([str(clean_venv / "bin" / "python"), "-c",
                   "import importlib.metadata, pathlib, pyheapdump;"
                   "print((pathlib.Path(pyheapdump.__file__).parent / 'py.typed').is_file(),"
                   " pyheapdump.__version__ == importlib.metadata.version('pyheapdump'))"], cwd=clean_venv)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


@pytest.mark.slow
@pytest.mark.parametrize("command, expected", [
    (["info"], "ZeroDivisionError"),
    (["traceback", "--locals"], "basket"),
    (["stats"], "Heap histogram"),
    (["--help"], "traceback"),
])
def test_every_reading_subcommand_works_from_a_plain_pip_install(
        clean_venv: Path, crash_dump: Path, command: list[str], expected: str) -> None:
    args = [str(clean_venv / "bin" / "pyheapdump"), *command]
    if command != ["--help"]:
        args.append(str(crash_dump))
    result = _run(args, cwd=crash_dump.parent)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    assert expected in result.stdout, result.stdout
    assert "Traceback" not in result.stderr and "ModuleNotFoundError" not in result.stderr, result.stderr


@pytest.mark.slow
def test_debug_from_a_plain_pip_install_opens_pdb_at_the_crash(clean_venv: Path, crash_dump: Path) -> None:
    result = _run([str(clean_venv / "bin" / "pyheapdump"), "debug", str(crash_dump)], cwd=crash_dump.parent,
                  stdin="p basket.items\np total\nq\n")
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "(Pdb) [1, 2, 3]\n(Pdb) 6\n" in result.stdout, result.stdout
    assert "ModuleNotFoundError" not in result.stderr, result.stderr


@pytest.mark.slow
def test_serve_from_a_plain_pip_install_answers_a_dap_client(clean_venv: Path, crash_dump: Path) -> None:
    with serving(crash_dump, python=clean_venv / "bin" / "python", env=_clean_env(), cwd=crash_dump.parent) as server:
        with server.client() as client:
            _, stopped = client.attach_like_vscode()
            assert stopped["body"]["reason"] == "exception"
            client.call("disconnect", {"restart": False, "terminateDebuggee": False})
        assert server.wait() == 0
