"""Realistic programs (tests/python/programs/real_*.py), dumped by a separate process and loaded the ways users
load them: safe and trusted where the program's libraries are installed, and in a venv that has none of them.
Loading never runs the dumped program: each program appends to ran.log whenever its top level runs."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest
from engine_support import child_env, frame_named, run_program

import pyheapdump

pytest.importorskip("flask")
pytest.importorskip("sqlalchemy")


def program_env(directory: Path) -> dict[str, str]:
    """The programs read their directory from the environment, so that a loader which wrongly ran them again (with
    the same environment) would really run them, and ran.log would say so."""
    return child_env(REAL_PROGRAM_DIR=str(directory))


def ran_count(directory: Path) -> int:
    return (directory / "ran.log").read_text().count("ran\n")


@pytest.fixture(scope="module")
def flask_dump(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("flask")
    result = run_program("real_flask_service.py", cwd=directory, env=program_env(directory))
    assert "request failed: KeyError" in result.stdout
    (dump,) = directory.glob("real_flask_service-*.heapdump")
    return directory, dump


@pytest.fixture(scope="module")
def deadlock_dump(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("deadlock")
    result = run_program("real_deadlock.py", cwd=directory, env=program_env(directory))
    assert "dumped the deadlock" in result.stdout
    return directory, directory / "deadlock.heapdump"


def test_a_safe_load_of_the_flask_handler_shows_what_the_request_held(flask_dump: tuple[Path, Path]) -> None:
    directory, dump_path = flask_dump
    dump = pyheapdump.load_dump(dump_path)
    assert type(dump.exception).__name__ == "KeyError"
    view = frame_named(dump.traceback, "create_order").f_locals
    assert view["customer"].email == "bob@example.com" and view["customer"].tier == "basic"
    assert (view["order"].customer_id, view["order"].quantity, view["order"].unit_price) == (2, 3, 19.99)
    assert view["quote"].customer_email == "bob@example.com"
    assert view["quote"].subtotal == pytest.approx(59.97)
    assert view["quote"].placed == datetime.datetime(2026, 12, 5, 9, 30, tzinfo=datetime.UTC)
    assert ran_count(directory) == 1


def test_a_trusted_load_of_the_flask_handler_runs_nothing_of_the_program(flask_dump: tuple[Path, Path]) -> None:
    directory, dump_path = flask_dump
    shown = subprocess.run(
        [sys.executable, "-m", "pyheapdump", "traceback", "--locals", "--trusted", str(dump_path)],
        capture_output=True, text=True, timeout=120, env=program_env(directory), cwd=directory)
    assert shown.returncode == 0, shown.stderr
    assert "email='bob@example.com'" in shown.stdout or "bob@example.com" in shown.stdout
    assert "Traceback (most recent call last):\n  File \"" not in shown.stderr, shown.stderr
    assert ran_count(directory) == 1, "loading the dump ran the dumped program's top level again"
    assert len(list(directory.glob("*.heapdump"))) == 1, "loading the dump wrote a new dump"


def test_the_flask_dump_loads_where_none_of_its_libraries_are_installed(
        flask_dump: tuple[Path, Path], bare_python: Path) -> None:
    directory, dump_path = flask_dump
    shown = subprocess.run([str(bare_python), "-m", "pyheapdump", "traceback", "--locals", str(dump_path)],
                           capture_output=True, text=True, timeout=120, env=program_env(directory), cwd=directory)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "in create_order" in out and "discount = DISCOUNTS[tier]" in out
    assert "email='bob@example.com'" in out
    assert "customer_id=2, quantity=3, unit_price=19.99" in out
    assert "ModuleNotFoundError" not in shown.stderr and "Traceback" not in shown.stderr, shown.stderr
    assert ran_count(directory) == 1


def test_a_deadlock_dump_shows_each_worker_waiting_and_which_locks_are_held(
        deadlock_dump: tuple[Path, Path]) -> None:
    directory, dump_path = deadlock_dump
    dump = pyheapdump.load_dump(dump_path)
    workers = {thread.name: thread for thread in dump.threads if thread.name.startswith("orders")}
    assert len(workers) == 2
    waiting = {frame.f_code.co_name: frame for thread in workers.values() for frame in thread.frames[-1:]}
    assert set(waiting) == {"reserve_stock", "post_payment"}
    assert waiting["reserve_stock"].f_locals["order_id"] == 17
    module_globals = waiting["reserve_stock"].f_globals
    assert module_globals["inventory_lock"].locked() is True
    assert module_globals["ledger_lock"].locked() is True
    assert dump.metadata["description"] == "watchdog: no order finished in 0.5 s"


def test_the_deadlock_dump_loads_in_a_venv_without_the_test_packages(
        deadlock_dump: tuple[Path, Path], bare_python: Path) -> None:
    directory, dump_path = deadlock_dump
    shown = subprocess.run([str(bare_python), "-m", "pyheapdump", "traceback", "--locals", str(dump_path)],
                           capture_output=True, text=True, timeout=120, env=program_env(directory), cwd=directory)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "with ledger_lock:  # WAITS_FOR_LEDGER" in out and "with inventory_lock:  # WAITS_FOR_INVENTORY" in out
    assert out.count("order_id = 17") >= 2, out
    assert "in reserve_stock" in out and "in post_payment" in out
    assert "Traceback" not in shown.stderr, shown.stderr
    assert ran_count(directory) == 1


def test_a_trusted_load_of_a_deadlocked_program_does_not_deadlock_the_loader(
        deadlock_dump: tuple[Path, Path]) -> None:
    directory, dump_path = deadlock_dump
    shown = subprocess.run(
        [sys.executable, "-m", "pyheapdump", "traceback", "--trusted", str(dump_path)],
        capture_output=True, text=True, timeout=60, env=program_env(directory), cwd=directory)
    assert shown.returncode == 0, shown.stderr
    assert "WAITS_FOR_LEDGER" in shown.stdout and "WAITS_FOR_INVENTORY" in shown.stdout
    assert ran_count(directory) == 1, "loading the dump ran the deadlocking program again"


def test_pdb_on_the_deadlock_dump_switches_between_the_waiting_workers(deadlock_dump: tuple[Path, Path]) -> None:
    directory, dump_path = deadlock_dump
    shown = subprocess.run([sys.executable, "-m", "pyheapdump", "debug", str(dump_path)],
                           input="threads\nq\n", capture_output=True, text=True, timeout=60,
                           env=program_env(dump_path.parent))
    assert shown.returncode == 0, shown.stderr
    assert "orders_0" in shown.stdout and "orders_1" in shown.stdout

