"""A dump written under one supported Python loads under every other one, to the same objects.

engine_scene.py is dumped by each interpreter the machine has; engine_digest.py loads each dump with the writer's own
interpreter and with others, and the digests of what came back must be equal. The pairs: each version with the next
one, both ways, and the oldest with the newest, both ways (3.11 <-> 3.15). Each interpreter needs this tree's native
module built for it (bash scripts/dev-build.sh /path/to/python3.X); a missing one is skipped, saying so.

Where the versions differ, what depends on the writer's compiler falls back as README's "Python versions" says:
tracebacks show lines without columns (tested here through `pyheapdump traceback`), and a trusted load keeps
__main__'s classes and functions as surrogates (test_trusted_main.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from engine_support import PROGRAMS, REPO, require_interpreter, run_program, run_python

VERSIONS = ("3.11", "3.12", "3.13", "3.14", "3.15")
OLDEST, NEWEST = VERSIONS[0], VERSIONS[-1]
_NEIGHBOURS = list(zip(VERSIONS, VERSIONS[1:], strict=False))
PAIRS = [pair for older, newer in [*_NEIGHBOURS, (OLDEST, NEWEST)] for pair in ((older, newer), (newer, older))]


class SceneDumps:
    """engine_scene.py dumped once by each interpreter, on first use; each dump digested once by each reader."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.by_version: dict[str, Path] = {}
        self.digests: dict[tuple[str, str], dict[str, Any]] = {}

    def digest(self, writer: str, reader: str) -> dict[str, Any]:
        """What Python `reader` loads from the dump of Python `writer`."""
        if (writer, reader) not in self.digests:
            path = self.by(writer)
            result = run_python([PROGRAMS / "engine_digest.py", path], python=require_interpreter(reader), cwd=REPO)
            assert result.returncode == 0, f"Python {reader} could not load {path.name}:\n{result.stderr}"
            self.digests[writer, reader] = json.loads(result.stdout)
        return self.digests[writer, reader]

    def by(self, version: str) -> Path:
        if version not in self.by_version:
            path = self.directory / f"scene-{version}.heapdump"
            run_program("engine_scene.py", path, python=require_interpreter(version), cwd=self.directory)
            self.by_version[version] = path
        return self.by_version[version]


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> SceneDumps:
    return SceneDumps(tmp_path_factory.mktemp("crossversion"))


@pytest.mark.parametrize(("writer", "reader"), PAIRS, ids=[f"{w}-to-{r}" for w, r in PAIRS])
def test_a_dump_written_by_one_python_loads_the_same_under_another(dumps: SceneDumps, writer: str,
                                                                   reader: str) -> None:
    require_interpreter(reader)
    at_home = dumps.digest(writer, writer)
    abroad = dumps.digest(writer, reader)
    assert at_home["python"].startswith(writer + ".")
    assert abroad["warnings"] == [] and at_home["warnings"] == []
    for key in at_home:
        assert abroad[key] == at_home[key], f"{key} differs when Python {reader} loads a dump of Python {writer}"
    # and the digest holds what the program had, not two equal kinds of nothing
    assert abroad["stdlib"]["decimal"] == "Decimal('-12345.678900')"
    assert abroad["values"]["huge"] == str(3**200)
    assert abroad["identity"] == [True, True, True, True]
    assert [frame[0] for frame in abroad["frames"]] == ["<module>", "outer", "scene"]


TRACEBACK_PAIRS = [(OLDEST, OLDEST), (NEWEST, NEWEST), (OLDEST, NEWEST), (NEWEST, OLDEST)]


@pytest.mark.parametrize(("writer", "reader"), TRACEBACK_PAIRS, ids=[f"{w}-to-{r}" for w, r in TRACEBACK_PAIRS])
def test_traceback_columns_only_under_the_writers_python(dumps: SceneDumps, writer: str, reader: str) -> None:
    # The dump keeps each frame's line and instruction offset; only the writer's compiler maps an offset to columns.
    require_interpreter(reader)
    path = dumps.by(writer)
    shown = run_python(["-m", "pyheapdump", "traceback", path], python=require_interpreter(reader), cwd=REPO)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    raise_at = next(i for i, line in enumerate(lines) if "# TB_RAISE_LINE" in line)
    assert lines[raise_at].strip().startswith('raise ValueError("handled in the scene"')
    assert lines[raise_at - 1].strip().endswith("in raise_with_traceback")  # the real frames, lines as dumped
    underline = lines[raise_at + 1].strip()
    if writer == reader:
        assert underline and set(underline) <= {"^", "~"}, shown.stdout
    else:
        assert underline == "ValueError: ('handled in the scene', 'in the failing frame')", shown.stdout
