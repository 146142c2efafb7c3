"""A trusted load rebuilds the dumped __main__'s classes and functions without running the dumped program.

The programs have no `if __name__ == "__main__"` guard: their top level appends a line to a log and dumps (one
blocks forever after dumping). Each dump is written by its own process and loaded in another one, through
`load_dump(..., trusted=True)` and the CLI; the log must still hold exactly one line afterwards.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from engine_support import PROGRAMS, child_env, require_interpreter, run_program, run_python, running_version

LOAD_TIMEOUT = 120

REPORT = textwrap.dedent("""
    import json, sys, warnings
    import pyheapdump
    from pyheapdump import Surrogate, surrogate_info

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dump = pyheapdump.load_dump(sys.argv[1], trusted=True)
    L = dump.current_thread.frames[0].f_locals
    shape, square, point, slotted = L["shape"], L["square"], L["point"], L["slotted"]
    Shape, Square, Point = L["Shape"], L["Square"], L["Point"]

    def call(function, *args):
        try:
            return function(*args)
        except Exception as error:
            return f"{type(error).__name__}: {error}"

    reasons = sorted({surrogate_info(v).reason for v in L.values() if surrogate_info(v) is not None})
    print(json.dumps({
        "names": [[type(o).__module__, type(o).__name__, type(o).__qualname__]
                  for o in (shape, square, point, slotted, L["local"])],
        "surrogates": [isinstance(o, Surrogate) for o in (shape, square, point, slotted, Shape, Square, Point)],
        "shape": [shape.describe(), shape.describe("one"), shape.doubled_sides, shape.scaled(2), repr(shape),
                  len(shape), repr(Shape.unit()), shape.kind],
        "square": [square.describe("the"), square.area(), square.perimeter, square.kind,
                   isinstance(square, Shape), repr(square)],
        "point": [repr(point), point.norm1(), point == Point(3, -4, ["a"]), repr(Point(1)),
                  call(lambda: Point(1, 2).tags)],
        "slotted": [slotted.total(), list(type(slotted).__slots__), hasattr(slotted, "__dict__")],
        "local": [L["local"].answer(), type(L["local"]).__qualname__],
        "functions": [L["double"](21), L["counter"](), L["counter"](5), L["make_counter"](1)()],
        "generated": [type(L["generated"]).__name__, surrogate_info(L["generated"]).reason,
                      surrogate_info(L["generated"]).detail, call(L["generated"], 1)],
        "reasons": reasons,
        "warnings": [str(w.message) for w in caught] + dump.warnings,
    }))
""")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dump_program(directory: Path) -> tuple[Path, Path]:
    """Runs a copy of trusted_no_guard.py from `directory`; returns (dump, log), which it writes next to itself."""
    shutil.copy(PROGRAMS / "trusted_no_guard.py", directory / "trusted_no_guard.py")
    dump, log = directory / "no_guard.heapdump", directory / "top-level.log"
    run_program("trusted_no_guard.py", program_dir=directory, cwd=directory)
    assert log.read_text() == "top level ran\n"
    return dump, log


@pytest.fixture(scope="module")
def no_guard(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return dump_program(tmp_path_factory.mktemp("no_guard"))


def load_report(dump: Path, cwd: Path, extra_paths: tuple[Path, ...] = (), python: str | None = None) -> Any:
    result = run_python(["-c", REPORT, dump], cwd=cwd, env=child_env(extra_paths), timeout=LOAD_TIMEOUT,
                        python=python)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_trusted_load_runs_nothing_of_a_script_without_a_main_guard(no_guard: tuple[Path, Path],
                                                                     tmp_path: Path) -> None:
    dump, log = no_guard
    before = sha256(dump)
    # The script's directory on sys.path too: found there or not, it must not be imported.
    load_report(dump, tmp_path, extra_paths=(dump.parent,))
    assert log.read_text() == "top level ran\n"
    assert sha256(dump) == before  # the script, run again, would have dumped over it


def test_trusted_load_rebuilds_main_classes_whose_methods_work(no_guard: tuple[Path, Path], tmp_path: Path) -> None:
    report = load_report(no_guard[0], tmp_path)
    assert report["names"] == [["__main__", "Shape", "Shape"], ["__main__", "Square", "Square"],
                               ["__main__", "Point", "Point"], ["__main__", "Slotted", "Slotted"],
                               ["__main__", "Local", "outer.<locals>.Local"]]
    assert report["surrogates"] == [False] * 7
    # plain methods with defaults, a property, a staticmethod reading a module constant, dunders from the source,
    # a classmethod making a new instance
    assert report["shape"] == ["a triangle with 3 sides", "one triangle with 3 sides", 6, 6, "Shape('triangle', 3)",
                               3, "Shape('unit', 1)", "shape"]
    # super() in an overriding method, a cached_property, class attributes, inheritance
    assert report["square"] == ["the square with 4 sides of side 5", 25, 20, "square", True, "Shape('square', 4)"]
    # a dataclass: its generated repr, eq and init (a default, a default_factory)
    assert report["point"] == ["Point(x=3, y=-4, tags=['a'])", 7, True, "Point(x=1, y=0, tags=[])", []]
    assert report["slotted"] == [7, ["left", "right"], False]
    assert report["local"] == [42, "outer.<locals>.Local"]
    assert report["warnings"] == []


def test_trusted_load_rebuilds_main_functions_and_closures(no_guard: tuple[Path, Path], tmp_path: Path) -> None:
    report = load_report(no_guard[0], tmp_path)
    # the counter was bumped once before the dump: its closure cell comes back with 11 in it
    assert report["functions"] == [42, 12, 17, 2]


def test_a_function_a_trusted_load_cannot_rebuild_says_why_not_to_load_trusted(
        no_guard: tuple[Path, Path], tmp_path: Path) -> None:
    report = load_report(no_guard[0], tmp_path)
    kind, reason, detail, called = report["generated"]
    assert (kind, reason) == ("SurrogateFunction", "not importable")
    assert "no source of <string>" in detail
    assert "no source of <string>" in called and "trusted=True" not in called
    assert "not trusted" not in report["reasons"]


def test_cli_traceback_trusted_shows_rebuilt_objects_and_runs_nothing(no_guard: tuple[Path, Path],
                                                                      tmp_path: Path) -> None:
    dump, log = no_guard
    result = run_python(["-m", "pyheapdump", "traceback", "--trusted", "--locals", dump], cwd=tmp_path,
                        env=child_env(), timeout=LOAD_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert "shape = Shape('triangle', 3)" in result.stdout
    assert "point = Point(x=3, y=-4, tags=['a'])" in result.stdout
    assert "trusted=True" not in result.stdout + result.stderr
    assert log.read_text() == "top level ran\n"


def test_trusted_load_needs_no_script_file(tmp_path: Path) -> None:
    """The classes travel in the dump: with the script gone, they are still rebuilt from the dumped source."""
    program = tmp_path / "program"
    program.mkdir()
    dump, log = dump_program(program)
    (program / "trusted_no_guard.py").unlink()
    report = load_report(dump, tmp_path)
    assert report["surrogates"] == [False] * 7
    assert report["shape"][0] == "a triangle with 3 sides"
    assert log.read_text() == "top level ran\n"


def test_trusted_load_of_a_program_that_blocks_after_dumping_finishes(tmp_path: Path) -> None:
    """Run again, this script would block forever at its top level (and first dump over the file being loaded)."""
    shutil.copy(PROGRAMS / "trusted_no_guard.py", tmp_path / "trusted_no_guard.py")
    (tmp_path / "hang").write_text("block after dumping\n")
    dump, log = tmp_path / "no_guard.heapdump", tmp_path / "top-level.log"
    process = subprocess.Popen([sys.executable, tmp_path / "trusted_no_guard.py"], cwd=tmp_path,
                               env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "dumped"
    finally:
        process.kill()
        process.communicate()
    started = time.monotonic()
    before = sha256(dump)
    report = load_report(dump, tmp_path, extra_paths=(tmp_path,))
    assert time.monotonic() - started < LOAD_TIMEOUT
    assert sha256(dump) == before
    assert report["shape"][0] == "a triangle with 3 sides"
    assert log.read_text() == "top level ran\n"


def test_trusted_load_by_another_python_version_falls_back_to_surrogates_saying_why(tmp_path: Path) -> None:
    other = next((v for v in ("3.12", "3.13", "3.11") if v != running_version()), "3.12")
    python = require_interpreter(other)
    shutil.copy(PROGRAMS / "trusted_no_guard.py", tmp_path / "trusted_no_guard.py")
    dump, log = tmp_path / "no_guard.heapdump", tmp_path / "top-level.log"
    result = run_python([tmp_path / "trusted_no_guard.py"], python=python, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    check = textwrap.dedent("""
        import json, sys
        import pyheapdump
        from pyheapdump import Surrogate, surrogate_info
        dump = pyheapdump.load_dump(sys.argv[1], trusted=True)
        L = dump.current_thread.frames[0].f_locals
        info = surrogate_info(L["shape"])
        print(json.dumps([isinstance(L["shape"], Surrogate), info.reason, info.detail, L["shape"].name,
                          surrogate_info(L["double"]).detail]))
    """)
    loaded = run_python(["-c", check, dump], cwd=tmp_path, timeout=LOAD_TIMEOUT)
    assert loaded.returncode == 0, loaded.stderr
    surrogate, reason, detail, name, function_detail = json.loads(loaded.stdout.splitlines()[-1])
    assert surrogate and reason == "not importable" and name == "triangle"
    assert f"dumped by Python {other}" in detail and f"loaded by Python {running_version()}" in detail
    assert f"dumped by Python {other}" in function_detail
    assert log.read_text() == "top level ran\n"


# ---- SQLAlchemy ORM ----

ORM_REPORT = textwrap.dedent("""
    import json, sys, warnings
    import pyheapdump
    from pyheapdump import surrogate_info

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dump = pyheapdump.load_dump(sys.argv[1], trusted=sys.argv[2] == "trusted")
    frame = next(f for f in dump.current_thread.frames if f.f_code.co_name == "main")
    customer = frame.f_locals["customer"]
    info = surrogate_info(customer)
    print(json.dumps({"email": customer.email, "name": customer.name, "class": type(customer).__qualname__,
                      "reason": info.reason if info else None,
                      "greeting": customer.greeting() if info is None else None,
                      "warnings": [str(w.message) for w in caught] + dump.warnings}))
""")


@pytest.fixture(scope="module", params=["main", "imported"])
def orm_dump(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    pytest.importorskip("sqlalchemy")
    directory = tmp_path_factory.mktemp(f"orm_{request.param}")
    for name in ("trusted_orm.py", "trusted_orm_model.py"):
        shutil.copy(PROGRAMS / name, directory / name)
    dump = directory / "orm.heapdump"
    run_program("trusted_orm.py", dump, directory / "shop.sqlite", request.param, program_dir=directory,
                cwd=directory)
    return dump, request.param


@pytest.mark.parametrize("mode", ["trusted", "safe"])
def test_orm_instance_reads_its_columns_in_trusted_and_safe_loads(orm_dump: tuple[Path, str], mode: str,
                                                                   tmp_path: Path) -> None:
    dump, where = orm_dump
    result = run_python(["-c", ORM_REPORT, dump, mode], cwd=tmp_path, env=child_env([dump.parent]),
                        timeout=LOAD_TIMEOUT)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["email"] == "ada@example.com" and report["name"] == "ada"
    assert report["class"] == "Customer"
    assert report["warnings"] == []
    assert "immutabledict" not in result.stderr
    if mode == "trusted" and where == "imported":
        assert report["reason"] is None and report["greeting"] == "dear ada"  # the real mapped class
    elif mode == "trusted":
        # A declarative model of __main__ is not remade (its base would map it again): its dumped state is shown.
        assert report["reason"] == "not importable"
    assert report["reason"] != "not trusted" or mode == "safe"


def test_cli_trusted_load_of_an_orm_program_warns_about_nothing(orm_dump: tuple[Path, str], tmp_path: Path) -> None:
    dump, _ = orm_dump
    result = run_python(["-m", "pyheapdump", "traceback", "--trusted", "--locals", dump], cwd=tmp_path,
                        env=child_env([dump.parent]), timeout=LOAD_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert "customer = " in result.stdout
    assert "immutabledict" not in result.stdout + result.stderr
    assert "Warning" not in result.stderr
