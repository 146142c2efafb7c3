"""A dump loaded in another process, where the dumping program's modules do not exist (or do, for a trusted load).

The program (engine_app_main.py + its module engine_app_model.py) is copied into a temporary directory and run
there; each load runs in a fresh Python process with another working directory and sys.path.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
from engine_support import PROGRAMS, child_env, run_program, run_python

# Printed by every loading process: what it found in the dumped main() frame.
REPORT = textwrap.dedent("""
    import json, sys
    import pyheapdump
    from pyheapdump import Surrogate, surrogate_info

    dump = pyheapdump.load_dump(sys.argv[1], trusted=sys.argv[2] == "trusted")
    frame = next(f for f in dump.current_thread.frames if f.f_code.co_name == "main")

    def describe(obj):
        info = surrogate_info(obj)
        cls = type(obj)
        return {"module": cls.__module__, "qualname": cls.__qualname__, "surrogate": isinstance(obj, Surrogate),
                "reason": info.reason if info else None, "original": info.original if info else None}

    report = {name: describe(frame.f_locals[name]) for name in ("account", "history", "ledger", "pair", "session")}
    report["warnings"] = dump.warnings
    report["loaded_modules"] = sorted(m for m in sys.modules if "engine_app" in m or m == "__pyheapdump_main__")
    L = frame.f_locals
    report["state"] = {"owner": L["account"].owner, "balance": L["account"].balance,
                       "entries": L["history"].entries, "ledger_keys": sorted(L["ledger"]),
                       "audited": L["ledger"].audited, "pair_right": L["pair"].right,
                       "pair_left_is_account": L["pair"].left is L["account"],
                       "session_account_is_account": L["session"].account is L["account"]}
    if sys.argv[2] == "trusted":
        helper = L["local_helper"]
        report["local_helper"] = [helper.__qualname__, isinstance(helper, Surrogate), helper() is L["session"]]
        report["calls"] = {"balance_after": L["account"].balance_after(5, 7), "total": L["history"].total(),
                           "owners": L["ledger"].owners(), "greeting": L["session"].greeting(),
                           "pair_left_field": L["pair"].left.owner}
    print(json.dumps(report))
""")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The program dumped from its own directory; returns that directory (the dump is app/app.heapdump)."""
    app = tmp_path_factory.mktemp("app")
    for name in ("engine_app_main.py", "engine_app_model.py"):
        shutil.copy(PROGRAMS / name, app / name)
    run_program("engine_app_main.py", app / "app.heapdump", program_dir=app, cwd=app)
    assert (app / "main-block-ran").exists() and (app / "imported-as-__main__").exists()
    (app / "main-block-ran").unlink()
    return app


def load_elsewhere(dump: Path, mode: str, cwd: Path, extra_paths: tuple[Path, ...] = ()) -> dict[str, Any]:
    result = run_python(["-c", REPORT, dump, mode], cwd=cwd, env=child_env(extra_paths))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_safe_load_where_the_modules_do_not_exist_names_every_class_right(app: Path, tmp_path: Path) -> None:
    report = load_elsewhere(app / "app.heapdump", "safe", tmp_path)
    assert report["account"] == {"module": "engine_app_model", "qualname": "Account", "surrogate": True,
                                 "reason": "not trusted", "original": "engine_app_model.Account"}
    assert report["history"]["qualname"] == "Account.History" and report["history"]["surrogate"]
    assert report["ledger"]["qualname"] == "Ledger" and report["ledger"]["surrogate"]
    assert report["pair"]["qualname"] == "Pair" and report["pair"]["surrogate"]
    assert report["session"] == {"module": "__main__", "qualname": "Session", "surrogate": True,
                                 "reason": "not importable", "original": "__main__.Session"}
    assert report["loaded_modules"] == []
    assert report["warnings"] == []


def test_safe_load_keeps_the_state_and_identity_of_surrogates(app: Path, tmp_path: Path) -> None:
    state = load_elsewhere(app / "app.heapdump", "safe", tmp_path)["state"]
    assert state == {"owner": "ada", "balance": 120, "entries": [5, 10, 20], "ledger_keys": ["ada"], "audited": True,
                     "pair_right": "right side", "pair_left_is_account": True, "session_account_is_account": True}


def test_safe_load_imports_nothing_even_when_the_modules_are_on_sys_path(app: Path, tmp_path: Path) -> None:
    (app / "imported-as-__pyheapdump_main__").unlink(missing_ok=True)
    report = load_elsewhere(app / "app.heapdump", "safe", tmp_path, extra_paths=(app,))
    assert report["loaded_modules"] == []
    assert report["account"]["surrogate"] and report["account"]["reason"] == "not trusted"
    assert not (app / "imported-as-__pyheapdump_main__").exists()


def test_trusted_load_with_the_modules_present_rebuilds_real_instances_whose_methods_work(
        app: Path, tmp_path: Path) -> None:
    report = load_elsewhere(app / "app.heapdump", "trusted", tmp_path, extra_paths=(app,))
    for name, qualname in (("account", "Account"), ("history", "Account.History"), ("ledger", "Ledger"),
                           ("pair", "Pair")):
        assert report[name] == {"module": "engine_app_model", "qualname": qualname, "surrogate": False,
                                "reason": None, "original": None}, name
    assert report["calls"]["balance_after"] == 132
    assert report["calls"]["total"] == 35
    assert report["calls"]["owners"] == ["ada"]
    assert report["calls"]["pair_left_field"] == "ada"
    assert report["state"]["audited"] is True and report["state"]["pair_left_is_account"] is True


def test_trusted_load_rebuilds_the_dumped_main_classes_without_importing_the_script(
        app: Path, tmp_path: Path) -> None:
    """The script's top level never runs (not even its imports): its classes come from the dump and its source."""
    (app / "imported-as-__pyheapdump_main__").unlink(missing_ok=True)
    report = load_elsewhere(app / "app.heapdump", "trusted", tmp_path, extra_paths=(app,))
    assert report["session"] == {"module": "__main__", "qualname": "Session", "surrogate": False,
                                 "reason": None, "original": None}
    assert report["calls"]["greeting"] == "hello ada, you have 120"
    assert not (app / "imported-as-__pyheapdump_main__").exists()
    assert not (app / "main-block-ran").exists()
    assert "__pyheapdump_main__" not in report["loaded_modules"]
    assert report["warnings"] == []


def test_trusted_load_rebuilds_a_local_function_with_its_closure(app: Path, tmp_path: Path) -> None:
    report = load_elsewhere(app / "app.heapdump", "trusted", tmp_path, extra_paths=(app,))
    assert report["local_helper"] == ["main.<locals>.local_helper", False, True]


def test_trusted_load_where_the_modules_are_gone_falls_back_to_surrogates_that_say_not_importable(
        app: Path, tmp_path: Path) -> None:
    moved = tmp_path / "dump-only"
    moved.mkdir()
    shutil.copy(app / "app.heapdump", moved / "app.heapdump")
    hidden = app.with_name(app.name + "-hidden")
    app.rename(hidden)  # the dumped script's path no longer exists either
    try:
        result = run_python(["-c", REPORT.split("if sys.argv[2] == \"trusted\":")[0] + "print(json.dumps(report))",
                             moved / "app.heapdump", "trusted"], cwd=moved, env=child_env())
    finally:
        hidden.rename(app)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["account"] == {"module": "engine_app_model", "qualname": "Account", "surrogate": True,
                                 "reason": "not importable", "original": "engine_app_model.Account"}
    # The __main__ class travels in the dump (attributes and source): it needs no file where the dump is loaded.
    assert report["session"] == {"module": "__main__", "qualname": "Session", "surrogate": False,
                                 "reason": None, "original": None}
    assert report["state"]["balance"] == 120
