"""Fixtures shared by the integration tests (programs run in a child process, their dumps loaded here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_support import frame_named, last_json_line, run_program

# --- the scene: one dump of engine_scene.py, shared by the tests of one module ---------------------------------------


@pytest.fixture(scope="module")
def scene_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """engine_scene.py run once: its dump and the JSON report it printed after dumping."""
    directory = tmp_path_factory.mktemp("scene")
    result = run_program("engine_scene.py", directory / "scene.heapdump", cwd=directory)
    return directory / "scene.heapdump", last_json_line(result.stdout)


@pytest.fixture(scope="module")
def dump(scene_run: tuple[Path, dict[str, Any]]) -> Any:
    """The scene's dump, loaded safely in this process (where the program's __main__ does not exist)."""
    import pyheapdump

    return pyheapdump.load_dump(scene_run[0])


@pytest.fixture(scope="module")
def scene(dump: Any) -> dict[str, Any]:
    """The locals of the dumped scene() frame."""
    assert dump.current_thread is not None
    return frame_named(dump.current_thread.frames, "scene").f_locals
