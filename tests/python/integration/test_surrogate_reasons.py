"""surrogate_info(obj).reason says why this load made obj a surrogate, whatever other loads in the process said.

Two dumps of a `Gadget` from a module `reason_model`, loaded in one process where that module cannot be imported:
- the first dump's program imported `reason_model`: a safe load leaves the class out by choice ("not trusted"), a
  trusted load cannot import it ("not importable");
- the second dump's program made a class of the same name in its own script, under `__module__ = "reason_model"`,
  a name under which no import finds that class: every load says "not importable".
Surrogate classes are shared by the loads of a process; the reason must not be whichever load came first.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from engine_support import child_env, run_python

MODEL = textwrap.dedent("""
    class Gadget:
        def __init__(self, label):
            self.label = label
""")

# `reason_dump.py PATH imported|homemade`: dumps a Gadget of reason_model's, or one of its own under that name.
PROGRAM = textwrap.dedent("""
    import sys
    import pyheapdump


    class Gadget:
        def __init__(self, label):
            self.label = label


    Gadget.__module__ = "reason_model"  # a name under which this program's module cannot find this class


    def main():
        if sys.argv[2] == "imported":
            from reason_model import Gadget as made
        else:
            made = Gadget
        gadget = made(sys.argv[2])
        pyheapdump.save_dump(sys.argv[1], exc=False, threads=False)


    if __name__ == "__main__":
        main()
""")

LOAD = textwrap.dedent("""
    import json, sys, warnings
    import pyheapdump
    from pyheapdump import Surrogate, surrogate_info

    warnings.simplefilter("ignore")  # a trusted load warns that reason_model cannot be imported
    seen = []
    for spec in sys.argv[1:]:
        mode, path = spec.split("=", 1)
        dump = pyheapdump.load_dump(path, trusted=mode == "trusted")
        frame = next(f for f in dump.current_thread.frames if f.f_code.co_name == "main")
        gadget = frame.f_locals["gadget"]
        seen.append({
            "surrogate": isinstance(gadget, Surrogate),
            "original": surrogate_info(gadget).original,
            "label": gadget.label,
            "reason": surrogate_info(gadget).reason,
            "class_reason": surrogate_info(type(gadget)).reason,
        })
    print(json.dumps(seen))
""")


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("reasons")
    app = base / "app"
    app.mkdir()
    (app / "reason_model.py").write_text(MODEL)
    (app / "reason_dump.py").write_text(PROGRAM)
    written = {}
    for name in ("imported", "homemade"):
        written[name] = base / f"{name}.heapdump"
        result = run_python([app / "reason_dump.py", written[name], name], cwd=app, env=child_env([app]))
        assert result.returncode == 0, result.stderr
    (app / "reason_model.py").unlink()  # the loading process cannot import it
    return written


def load_in_order(tmp_path: Path, *loads: tuple[str, Path]) -> list[dict[str, object]]:
    result = run_python(["-c", LOAD, *(f"{mode}={path}" for mode, path in loads)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def reasons(seen: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(entry["reason"], entry["class_reason"]) for entry in seen]


def test_a_safe_then_a_trusted_load_of_one_dump_each_give_their_own_reason(tmp_path: Path,
                                                                          dumps: dict[str, Path]) -> None:
    seen = load_in_order(tmp_path, ("safe", dumps["imported"]), ("trusted", dumps["imported"]),
                         ("safe", dumps["imported"]))
    assert all(entry["surrogate"] and entry["original"] == "reason_model.Gadget" for entry in seen), seen
    assert [entry["label"] for entry in seen] == ["imported"] * 3
    assert reasons(seen) == [("not trusted", "not trusted"), ("not importable", "not importable"),
                             ("not trusted", "not trusted")]


def test_a_trusted_then_a_safe_load_of_one_dump_each_give_their_own_reason(tmp_path: Path,
                                                                          dumps: dict[str, Path]) -> None:
    seen = load_in_order(tmp_path, ("trusted", dumps["imported"]), ("safe", dumps["imported"]))
    assert reasons(seen) == [("not importable", "not importable"), ("not trusted", "not trusted")]


def test_two_dumps_whose_same_named_class_has_different_reasons_each_keep_their_own(tmp_path: Path,
                                                                                    dumps: dict[str, Path]) -> None:
    seen = load_in_order(tmp_path, ("safe", dumps["imported"]), ("safe", dumps["homemade"]),
                         ("safe", dumps["imported"]), ("safe", dumps["homemade"]))
    assert [entry["label"] for entry in seen] == ["imported", "homemade"] * 2
    assert reasons(seen) == [("not trusted", "not trusted"), ("not importable", "not importable")] * 2
