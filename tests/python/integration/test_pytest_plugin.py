"""The pytest plugin, run the way users run it: pytest itself in a subprocess on a small suite with failing tests."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
from pathlib import Path

import pytest
from capture_support import PROGRAMS, child_env, dumps_in, frame_named, run_python

import pyheapdump

SUITE = "capture_pytest_suite.py"


def _plugin_is_installed() -> bool:
    return any(ep.value == "pyheapdump.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11"))


def run_pytest(workdir: Path, *options: str, plugin: bool = True) -> tuple[int, str]:
    shutil.copy(PROGRAMS / SUITE, workdir / SUITE)
    if plugin:
        # From a source tree the pytest11 entry point is not installed: load the plugin by name, as the docs say.
        load = [] if _plugin_is_installed() else ["-p", "pyheapdump.pytest_plugin"]
    else:
        load = ["-p", "no:pyheapdump"]
    completed = run_python(
        ["-m", "pytest", *load, "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", str(workdir), *options, SUITE],
        cwd=workdir,
        env=child_env(),
    )
    return completed.returncode, completed.stdout + completed.stderr


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


def test_each_failing_test_dumps_once_named_after_its_node_id(workdir: Path, tmp_path: Path) -> None:
    dumps = tmp_path / "dumps"
    status, output = run_pytest(workdir, "--heapdump-dir", str(dumps))

    assert status == 1, output
    assert "3 failed, 2 passed, 1 skipped, 1 xfailed, 1 error" in output
    names = sorted(path.name for path in dumps_in(dumps))
    assert names == [
        "capture_pytest_suite.py_TestCheckout_test_checkout.heapdump",
        "capture_pytest_suite.py_test_cart_total.heapdump",
        "capture_pytest_suite.py_test_quantity_2.heapdump",
        "capture_pytest_suite.py_test_uses_database-setup.heapdump",
    ]
    assert "heap dumps" in output  # the terminal summary lists them
    for name in names:
        assert str(dumps / name) in output


def test_a_failing_tests_dump_holds_its_frames_with_fixture_values(workdir: Path, tmp_path: Path) -> None:
    dumps = tmp_path / "dumps"
    run_pytest(workdir, "--heapdump-dir", str(dumps))

    dump = pyheapdump.load_dump(dumps / "capture_pytest_suite.py_test_cart_total.heapdump")
    assert dump.metadata["reason"] == "pytest"
    assert "capture_pytest_suite.py::test_cart_total" in dump.metadata["description"]
    assert isinstance(dump.exception, KeyError)
    test_frame = frame_named(dump.traceback, "test_cart_total")
    assert test_frame.f_locals["cart"] == {"items": ["apple", "pear"], "coupon": "HALF"}  # the fixture's value
    assert test_frame.f_locals["prices"] == {"apple": 3}

    method = pyheapdump.load_dump(dumps / "capture_pytest_suite.py_TestCheckout_test_checkout.heapdump")
    assert frame_named(method.traceback, "TestCheckout.test_checkout").f_locals["step"] == "payment"

    parametrized = pyheapdump.load_dump(dumps / "capture_pytest_suite.py_test_quantity_2.heapdump")
    assert frame_named(parametrized.traceback, "test_quantity").f_locals["quantity"] == 2


def test_a_fixture_error_dumps_the_fixtures_frame(workdir: Path, tmp_path: Path) -> None:
    dumps = tmp_path / "dumps"
    run_pytest(workdir, "--heapdump-dir", str(dumps))

    dump = pyheapdump.load_dump(dumps / "capture_pytest_suite.py_test_uses_database-setup.heapdump")
    assert isinstance(dump.exception, RuntimeError)
    assert dump.exception.args == ("cannot connect to postgres://nowhere",)
    fixture = frame_named(dump.traceback, "broken_database")
    assert fixture.f_locals["connection_string"] == "postgres://nowhere"


def test_limits_reach_the_dump(workdir: Path, tmp_path: Path) -> None:
    dumps = tmp_path / "dumps"
    status, output = run_pytest(
        workdir,
        "--heapdump-dir",
        str(dumps),
        "--heapdump-limit",
        "max_str=64",
        "--heapdump-no-threads",
        "-k",
        "test_cart_total",
    )
    assert status == 1, output
    header = pyheapdump.read_header(dumps / "capture_pytest_suite.py_test_cart_total.heapdump")
    assert header["limits"]["max_str"] == 64
    assert header["threads"] == 1


def test_a_bad_limit_is_a_usage_error(workdir: Path, tmp_path: Path) -> None:
    status, output = run_pytest(workdir, "--heapdump-dir", str(tmp_path), "--heapdump-limit", "nonsense")
    assert status == 4
    assert "--heapdump-limit: a limit is NAME=VALUE" in output
    status, output = run_pytest(workdir, "--heapdump-dir", str(tmp_path), "--heapdump-limit", "max_objectz=10")
    assert status == 4
    assert "--heapdump-limit: unknown dump options ['max_objectz']" in output


def _without_run_details(output: str) -> str:
    output = re.sub(r"^plugins: .*$", "", output, flags=re.MULTILINE)  # lists the plugin itself when it is loaded
    return re.sub(r" at 0x[0-9a-f]+", "", re.sub(r" in [0-9.]+s", "", output))


def test_without_the_option_nothing_changes(workdir: Path, tmp_path: Path) -> None:
    status, output = run_pytest(workdir)
    status_without_plugin, output_without_plugin = run_pytest(workdir, plugin=False)

    assert status == status_without_plugin == 1
    assert _without_run_details(output) == _without_run_details(output_without_plugin)
    assert "heap dump" not in output
    assert list(tmp_path.rglob("*.heapdump")) == []
