"""Hostile dumps: a file from elsewhere names os.system, subprocess.Popen, builtins.eval and a module whose import has
side effects. Loading it safely (the default), reading its header and running the CLI's info, traceback and stats
on it run none of them; the objects come back as surrogates. Only trusted=True runs them (checked too, so the
payloads are known to be live).
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from engine_support import PROGRAMS, child_env, last_json_line, run_python

EVIL_MODULE = textwrap.dedent("""
    import os
    import pathlib

    pathlib.Path(os.environ["TRUST_MARKER_DIR"], "import").write_text("imported")


    class Payload:
        def __init__(self, note):
            self.note = note


    def _build():
        pathlib.Path(os.environ["TRUST_MARKER_DIR"], "build").write_text("called")
        return Built.__new__(Built)


    class Built:
        def __reduce_ex__(self, protocol):
            return (_build, ())
""")


class Hostile:
    def __init__(self, dump: Path, markers: Path, module_dir: Path) -> None:
        self.dump, self.markers, self.module_dir = dump, markers, module_dir

    def env(self) -> dict[str, str]:
        # The evil module stays importable while loading: a loader that tried to import it would succeed.
        return child_env([self.module_dir], TRUST_MARKER_DIR=str(self.markers))

    def written_markers(self) -> list[str]:
        return sorted(path.name for path in self.markers.iterdir())

    def inspect(self, mode: str) -> dict[str, Any]:
        result = run_python([PROGRAMS / "trust_inspect_hostile.py", self.dump, mode], env=self.env(),
                            cwd=self.module_dir)
        assert result.returncode == 0, result.stderr
        return last_json_line(result.stdout)


@pytest.fixture()
def hostile(tmp_path: Path) -> Hostile:
    module_dir = tmp_path / "modules"
    module_dir.mkdir()
    (module_dir / "trust_evil_module.py").write_text(EVIL_MODULE)
    markers = tmp_path / "markers"
    markers.mkdir()
    found = Hostile(tmp_path / "hostile.heapdump", markers, module_dir)
    result = run_python([PROGRAMS / "trust_hostile.py", found.dump, markers], env=found.env(), cwd=module_dir)
    assert result.returncode == 0, result.stderr
    assert found.written_markers() == ["import"]  # the program imported the module; dumping ran no payload
    (markers / "import").unlink()
    return found


def test_a_safe_load_runs_no_payload_and_returns_surrogates(hostile: Hostile) -> None:
    report = hostile.inspect("safe")
    assert hostile.written_markers() == []
    assert report["evil_module_imported"] is False
    for name in ("system", "popen", "evaluate", "payload", "built"):
        local = report["locals"][name]
        assert local["surrogate"], (name, local)
        assert local["reason"] in {"not trusted", "not importable"}, (name, local)


def test_reading_the_header_runs_no_payload(hostile: Hostile) -> None:
    header = hostile.inspect("header")
    assert header["exception"] == "RuntimeError: handling 5 hostile objects"
    assert header["evil_module_imported"] is False
    assert hostile.written_markers() == []


@pytest.mark.parametrize("command", [["info"], ["traceback"], ["traceback", "--locals"], ["stats"]])
def test_the_cli_reads_a_hostile_dump_without_running_anything(hostile: Hostile, command: list[str]) -> None:
    result = run_python(["-m", "pyheapdump", *command, hostile.dump], env=hostile.env(), cwd=hostile.module_dir)
    assert result.returncode == 0, result.stderr
    assert hostile.written_markers() == []
    if command[0] == "traceback":
        assert "RuntimeError: handling 5 hostile objects" in result.stdout
        assert "in serve" in result.stdout


def test_only_a_trusted_load_runs_the_payloads(hostile: Hostile) -> None:
    report = hostile.inspect("trusted")
    deadline = time.monotonic() + 10
    expected = ["build", "eval", "import", "popen", "system"]
    while hostile.written_markers() != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    assert hostile.written_markers() == expected
    assert report["evil_module_imported"] is True
    assert report["locals"]["payload"] == {"type": "trust_evil_module.Payload", "surrogate": False, "reason": None}
