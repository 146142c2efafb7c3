"""Safe versus trusted loading of a dump that names dangerous callables and an import with side effects.

tests/python/programs/engine_unsafe.py dumps objects whose reduce names os.system, subprocess.Popen, builtins.eval,
map(eval, ...) forced by list(...), http.server.HTTPServer (binds a port), a defaultdict whose factory is
partial(eval, ...), and an instance of a class from `engine_evil_model`, a module on sys.path whose import writes a
file. Every payload writes a marker file if it runs. A safe load must run none of them; a trusted load runs them
(which proves the markers would show it).
"""

from __future__ import annotations

import json
import socket
import textwrap
from pathlib import Path
from typing import Any

import pytest
from engine_support import PROGRAMS, child_env, run_program, run_python

PAYLOAD_MARKERS = {"os-system", "subprocess-popen", "builtins-eval", "map-eval"}
IMPORT_MARKER = "imported-engine_evil_model"
EVIL_MODEL = textwrap.dedent("""
    import os
    import sys

    # Importing this module has a side effect a safe load must never cause.
    _markers = os.environ.get("ENGINE_MARKERS") or sys.argv[2]
    open(os.path.join(_markers, "imported-engine_evil_model"), "w").close()


    class Gadget:
        def __init__(self, label):
            self.label = label
""")

LOAD = textwrap.dedent("""
    import json, sys
    import pyheapdump
    from pyheapdump import Surrogate, surrogate_info

    dump = pyheapdump.load_dump(sys.argv[1], trusted=sys.argv[2] == "trusted")
    frame = next(f for f in dump.current_thread.frames if f.f_code.co_name == "main")
    hostile = frame.f_locals["hostile"]
    try:
        hostile["factory"]["a key that is missing"]
        factory = "returned"
    except Exception as error:
        factory = type(error).__name__
    report = {
        name: {"type": f"{type(value).__module__}.{type(value).__qualname__}",
               "surrogate": isinstance(value, Surrogate),
               "reason": getattr(surrogate_info(value), "reason", None)}
        for name, value in hostile.items()
    }
    report["factory_lookup"] = factory
    report["evil_module_imported"] = "engine_evil_model" in sys.modules
    import socket
    with socket.socket() as probe:  # while the loaded objects are alive: did anything bind the port?
        try:
            probe.bind(("127.0.0.1", int(sys.argv[3])))
            report["port_was_free"] = True
        except OSError:
            report["port_was_free"] = False
    print(json.dumps(report))
""")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def hostile_dump(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, int]:
    """(dump, the program's directory, the marker directory, the port HTTPServer would bind)."""
    base = tmp_path_factory.mktemp("hostile")
    app, markers = base / "app", base / "markers"
    app.mkdir()
    markers.mkdir()
    (app / "engine_evil_model.py").write_text(EVIL_MODEL)
    (app / "engine_unsafe.py").write_text((PROGRAMS / "engine_unsafe.py").read_text())
    port = free_port()
    run_program("engine_unsafe.py", base / "hostile.heapdump", markers, port, program_dir=app, cwd=app)
    assert {p.name for p in markers.iterdir()} == {IMPORT_MARKER}  # the program itself imported the module
    (markers / IMPORT_MARKER).unlink()
    return base / "hostile.heapdump", app, markers, port


def load(hostile_dump: tuple[Path, Path, Path, int], mode: str, cwd: Path) -> dict[str, Any]:
    dump, app, markers, port = hostile_dump
    # The evil module is importable in the loading process: only the loader's own choice keeps it out.
    env = child_env([app], ENGINE_MARKERS=str(markers))
    result = run_python(["-c", LOAD, dump, mode, port], cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_a_safe_load_runs_no_payload_and_imports_no_module(hostile_dump: Any, tmp_path: Path) -> None:
    markers = hostile_dump[2]
    report = load(hostile_dump, "safe", tmp_path)
    assert sorted(p.name for p in markers.iterdir()) == []
    assert report["evil_module_imported"] is False


@pytest.mark.parametrize("name", ["system", "popen", "eval", "forced", "binder"])
def test_objects_whose_reduce_names_a_dangerous_callable_load_as_surrogates(hostile_dump: Any, tmp_path: Path,
                                                                            name: str) -> None:
    entry = load(hostile_dump, "safe", tmp_path)[name]
    assert entry["surrogate"] is True
    assert entry["reason"] == "not trusted"
    assert entry["type"].startswith("__main__.")


def test_an_instance_of_a_class_from_a_module_that_is_never_imported_is_a_surrogate(hostile_dump: Any,
                                                                                    tmp_path: Path) -> None:
    entry = load(hostile_dump, "safe", tmp_path)["gadget"]
    assert entry == {"type": "engine_evil_model.Gadget", "surrogate": True, "reason": "not trusted"}


def test_a_dangerous_builtin_function_loads_as_a_surrogate_that_refuses_to_run(hostile_dump: Any,
                                                                              tmp_path: Path) -> None:
    report = load(hostile_dump, "safe", tmp_path)
    assert report["evil_function"]["surrogate"] is True
    assert report["evil_function"]["reason"] == "not trusted"


def test_a_defaultdict_whose_factory_would_eval_does_not_run_it_on_a_missing_key(hostile_dump: Any,
                                                                                 tmp_path: Path) -> None:
    report = load(hostile_dump, "safe", tmp_path)
    assert report["factory"]["type"] == "collections.defaultdict"
    assert report["factory_lookup"] == "KeyError"  # no factory was rebuilt, so a missing key is just missing
    assert "defaultdict-factory" not in {p.name for p in hostile_dump[2].iterdir()}


def test_a_safe_load_binds_no_port(hostile_dump: Any, tmp_path: Path) -> None:
    assert load(hostile_dump, "safe", tmp_path)["port_was_free"] is True


def test_a_trusted_load_does_call_what_the_dump_names(hostile_dump: Any, tmp_path: Path) -> None:
    """The contrast that proves the markers work: trusted=True imports and calls what the dump names."""
    markers = hostile_dump[2]
    for marker in markers.iterdir():
        marker.unlink()
    report = load(hostile_dump, "trusted", tmp_path)
    written = {p.name for p in markers.iterdir()}
    assert PAYLOAD_MARKERS | {IMPORT_MARKER} <= written
    assert report["evil_module_imported"] is True
    assert report["gadget"]["surrogate"] is False
    assert report["binder"]["type"] == "http.server.HTTPServer" and report["port_was_free"] is False
    for marker in markers.iterdir():
        marker.unlink()
