"""A dump written under one supported Python loads under every other one, to the same objects.

engine_scene.py is dumped by each interpreter the machine has; engine_digest.py loads each dump with the writer's own
interpreter and with the others, and the digests of what came back must be equal. Each interpreter needs this tree's
native module built for it (bash scripts/dev-build.sh /path/to/python3.X); a missing one is skipped, saying so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from engine_support import PROGRAMS, REPO, require_interpreter, run_program, run_python

VERSIONS = ("3.11", "3.12", "3.13")
PAIRS = [(writer, reader) for writer in VERSIONS for reader in VERSIONS if writer != reader]


class SceneDumps:
    """engine_scene.py dumped once by each interpreter, on first use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.by_version: dict[str, Path] = {}

    def by(self, version: str) -> Path:
        if version not in self.by_version:
            path = self.directory / f"scene-{version}.heapdump"
            run_program("engine_scene.py", path, python=require_interpreter(version), cwd=self.directory)
            self.by_version[version] = path
        return self.by_version[version]


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> SceneDumps:
    return SceneDumps(tmp_path_factory.mktemp("crossversion"))


def digest_by(version: str, path: Path) -> dict[str, Any]:
    result = run_python([PROGRAMS / "engine_digest.py", path], python=require_interpreter(version), cwd=REPO)
    assert result.returncode == 0, f"Python {version} could not load {path.name}:\n{result.stderr}"
    return json.loads(result.stdout)


@pytest.mark.parametrize(("writer", "reader"), PAIRS, ids=[f"{w}-to-{r}" for w, r in PAIRS])
def test_a_dump_written_by_one_python_loads_the_same_under_another(dumps: SceneDumps, writer: str,
                                                                   reader: str) -> None:
    require_interpreter(reader)
    path = dumps.by(writer)
    at_home = digest_by(writer, path)
    abroad = digest_by(reader, path)
    assert at_home["python"].startswith(writer + ".")
    assert abroad["warnings"] == [] and at_home["warnings"] == []
    for key in at_home:
        assert abroad[key] == at_home[key], f"{key} differs when Python {reader} loads a dump of Python {writer}"
    # and the digest holds what the program had, not two equal kinds of nothing
    assert abroad["stdlib"]["decimal"] == "Decimal('-12345.678900')"
    assert abroad["values"]["huge"] == str(3**200)
    assert abroad["identity"] == [True, True, True, True]
    assert [frame[0] for frame in abroad["frames"]] == ["<module>", "outer", "scene"]
