"""Extension types of popular libraries: their C-level state is captured through their own compiled reducers, and
loads without a warning.

tests/python/programs/real_extensions.py (a separate process) dumps a frame holding SQLAlchemy's immutabledict,
pandas' Cython functions and BlockManager, the collections containers, array.array, Decimal, Fraction,
functools.partial, ctypes objects (a pointer's reduce raises) and Python subclasses of C types whose own pickle hooks
must never run. Safe loads happen here; trusted loads and the CLI run in child processes with warnings as errors.
"""

from __future__ import annotations

import array
import collections
import decimal
import fractions
import functools
import warnings
from pathlib import Path
from typing import Any

import pytest
from engine_support import PROGRAMS, child_env, frame_named, last_json_line, run_program, run_python

import pyheapdump
from pyheapdump import Surrogate, surrogate_info

pytest.importorskip("pandas")
pytest.importorskip("sqlalchemy")
numpy = pytest.importorskip("numpy")


@pytest.fixture(scope="module")
def extensions_dump(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("extensions") / "extensions.heapdump"
    result = run_program("real_extensions.py", path)
    return path, last_json_line(result.stdout)


def _held(path: Path, **options: Any) -> tuple[dict[str, Any], list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dump = pyheapdump.load_dump(path, **options)
        held = dict(frame_named(dump.threads[0].frames, "hold").f_locals)
    return held, list(caught)


def _arrays(obj: Any, seen: set[int] | None = None) -> list[Any]:
    """The numpy arrays reachable from a loaded object through surrogate attributes, tuples, lists and dicts."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, numpy.ndarray):
        return [obj]
    if isinstance(obj, (tuple, list)):
        children = list(obj)
    elif isinstance(obj, dict):
        children = list(obj.values())
    elif isinstance(obj, Surrogate):
        children = list(object.__getattribute__(obj, "__dict__").values())
    else:
        return []
    return [array for child in children for array in _arrays(child, seen)]


def test_a_safe_load_keeps_every_value_and_warns_of_nothing(extensions_dump: tuple[Path, dict[str, Any]]) -> None:
    path, report = extensions_dump
    held, caught = _held(path)
    assert [str(w.message) for w in caught] == []
    assert report["hooks_ran"] == [], "the dumper called a pickle hook of the program"

    # A dict subclass written in Cython: a surrogate that is a dict, with its items.
    frozen = held["frozen"]
    assert isinstance(frozen, dict) and isinstance(frozen, Surrogate)
    assert dict(frozen) == {"a": 1, "b": [2, 3]}
    assert surrogate_info(frozen).qualname == "immutabledict"
    assert isinstance(held["empty_frozen"], dict) and dict(held["empty_frozen"]) == {}
    assert isinstance(held["app_frozen"], dict) and dict(held["app_frozen"]) == {"app": True}

    # Cython functions (a fused one has a __module__ member twice in its type's MRO): named, never runnable.
    for name, qualname, module in (("cython_function", "is_scalar", report["is_scalar_module"]),
                                   ("fused_function", "is_monotonic", report["fused_module"])):
        function = held[name]
        assert isinstance(function, Surrogate), name
        assert (function.__module__, function.__qualname__) == (module, qualname)
        with pytest.raises(Exception, match="cannot run here"):
            function(1)

    # The BlockManager's C-level state came through its compiled reducer: the blocks' values are there.
    manager = held["manager"]
    assert surrogate_info(manager) is not None
    values = sorted(a.tolist() for a in _arrays(manager))
    assert [[1, 2, 3]] in values and [[4.5, 5.5, 6.5]] in values

    ordered = held["ordered"]
    assert type(ordered) is collections.OrderedDict and list(ordered.items()) == [("y", 2), ("z", 3), ("x", 1)]
    defaults = held["defaults"]
    assert type(defaults) is collections.defaultdict and defaults.default_factory is list
    assert dict(defaults) == {"k": [1]}
    assert held["counter"] == collections.Counter("abracadabra")
    assert type(held["counter"]) is collections.Counter
    assert list(held["queue"]) == [1, 2, 3] and held["queue"].maxlen == 5
    assert held["numbers"] == array.array("i", [1, 2, 3, 40000])
    assert held["price"] == decimal.Decimal("12.345")
    assert held["third"] == fractions.Fraction(1, 3)
    bound_max = held["bound_max"]
    assert type(bound_max) is functools.partial and bound_max.func is max and bound_max.args == (10,)
    assert bound_max(3) == 10

    # ctypes: a pointer's reduce raises (a surrogate stands in), a plain value's gives its bytes as data.
    assert surrogate_info(held["pointer"]) is not None
    integer = held["integer"]
    assert surrogate_info(integer) is not None
    assert b"\x07\x00\x00\x00" in _bytes_in(integer._reduce_args)

    # A Python subclass of array from __main__ (which a safe load never imports): its reduce's values are kept.
    plain_array = held["plain_array"]
    assert surrogate_info(plain_array).qualname == "PlainArray"
    assert plain_array._reduce_args[1:] == ("h", 4, array.array("h", [7, 8]).tobytes())

    # Python subclasses of C types with pickle hooks of their own: surrogates, their hooks never run.
    assert surrogate_info(held["watched_array"]) is not None
    assert surrogate_info(held["watched_partial"]) is not None


def _bytes_in(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (tuple, list)):
        return b"".join(_bytes_in(item) for item in value)
    return b""


TRUSTED_LOADER = """
import json, sys
import pyheapdump
dump = pyheapdump.load_dump(sys.argv[1], trusted=True)
held = [f for f in dump.threads[0].frames if f.f_code.co_qualname == "hold"][-1].f_locals
import pandas, pandas._libs.algos
from pandas.core.internals.managers import BlockManager
from sqlalchemy.util import immutabledict
frozen, manager = held["frozen"], held["manager"]
print(json.dumps({
    "frozen_type_ok": type(frozen) is immutabledict,
    "frozen": dict(frozen),
    "frozen_immutable": not hasattr(frozen, "__dict__") and type(frozen).__setitem__ is immutabledict.__setitem__,
    "cython_function_is_real": held["cython_function"] is pandas._libs.lib.is_scalar,
    "fused_function_is_real": held["fused_function"] is pandas._libs.algos.is_monotonic,
    "manager_type_ok": type(manager) is BlockManager,
    "frame": held["frame"].to_dict(orient="list") if isinstance(held["frame"], pandas.DataFrame) else None,
    "blocks": sorted(block.values.tolist() for block in manager.blocks) if type(manager) is BlockManager else None,
    "plain_array": list(held["plain_array"]),
    "app_frozen": [type(held["app_frozen"]).__name__, isinstance(held["app_frozen"], immutabledict),
                   dict(held["app_frozen"])],
    "warnings": dump.warnings,
}))
"""


def test_a_trusted_load_makes_the_real_objects_again(extensions_dump: tuple[Path, dict[str, Any]],
                                                     tmp_path: Path) -> None:
    path, _ = extensions_dump
    loader = tmp_path / "trusted_loader.py"
    loader.write_text(TRUSTED_LOADER)
    result = run_python(["-W", "error", loader, path], env=child_env([PROGRAMS]))
    assert result.returncode == 0, result.stderr
    assert "incompatible function arguments" not in result.stderr
    facts = last_json_line(result.stdout)
    assert facts["warnings"] == []
    assert facts["frozen_type_ok"] and facts["frozen"] == {"a": 1, "b": [2, 3]}
    assert facts["cython_function_is_real"] and facts["fused_function_is_real"]
    assert facts["manager_type_ok"]
    assert facts["blocks"] == [[[1, 2, 3]], [[4.5, 5.5, 6.5]]]
    assert facts["frame"] == {"a": [1, 2, 3], "b": [4.5, 5.5, 6.5]}
    assert facts["plain_array"] == [7, 8]
    assert facts["app_frozen"] == ["AppFrozen", True, {"app": True}]


def test_the_cli_shows_the_locals_without_a_binding_error(extensions_dump: tuple[Path, dict[str, Any]]) -> None:
    path, _ = extensions_dump
    result = run_python(["-W", "error", "-m", "pyheapdump", "traceback", "--locals", path])
    assert result.returncode == 0, result.stderr
    assert "incompatible function arguments" not in result.stderr
    assert "DumpLoadWarning" not in result.stderr
    assert "immutabledict({'a': 1, 'b': [2, 3]})" in result.stdout
    assert "is_monotonic" in result.stdout


def test_the_dump_loads_where_neither_pandas_nor_sqlalchemy_is_installed(
        extensions_dump: tuple[Path, dict[str, Any]], bare_python: Path) -> None:
    path, _ = extensions_dump
    result = run_python(["-W", "error", "-m", "pyheapdump", "traceback", "--locals", path], python=bare_python)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "DumpLoadWarning" not in result.stderr, result.stderr
    assert "incompatible function arguments" not in result.stderr
    out = result.stdout
    for text in ("frozen = immutabledict({'a': 1, 'b': [2, 3]})", "app_frozen = AppFrozen({'app': True})",
                 "frame = <surrogate pandas.DataFrame: 3 rows x 2 columns", "columns: 'a' (int64), 'b' (float64)",
                 "fused_function = <surrogate function pandas._libs.algos.is_monotonic>",
                 "numbers = array('i', [1, 2, 3, 40000])", "price = Decimal('12.345')", "third = Fraction(1, 3)",
                 # The loading interpreter's own repr (3.12 changed OrderedDict's), as the real object would show.
                 f"ordered = {collections.OrderedDict([('y', 2), ('z', 3), ('x', 1)])!r}",
                 "queue = deque([1, 2, 3], maxlen=5)",
                 "counter = Counter({'a': 5, 'b': 2, 'r': 2, 'c': 1, 'd': 1})"):
        assert text in out, f"{text!r} not in\n{out}"
    probe = run_python(["-c", "import pandas"], python=bare_python)
    assert probe.returncode != 0, "the bare venv must not have pandas"


def test_an_object_that_fails_to_load_is_one_short_warning_line(tmp_path: Path) -> None:
    """A trusted load whose reduce raises a message of several lines names the object in one line of its warning."""
    path = tmp_path / "fragile.heapdump"
    run_program("real_extensions.py", path, "fragile")
    script = tmp_path / "fragile_loader.py"
    script.write_text(
        "import json, sys, warnings\n"
        "import pyheapdump\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    dump = pyheapdump.load_dump(sys.argv[1], trusted=True)\n"
        "held = [f for f in dump.threads[0].frames if f.f_code.co_qualname == 'hold'][-1].f_locals\n"
        "print(json.dumps({'warnings': [str(w.message) for w in caught], 'problems': dump.warnings,\n"
        "                  'breakable': type(held['breakable']).__name__}))\n")
    result = run_python([script, path], env=child_env([PROGRAMS]))
    assert result.returncode == 0, result.stderr
    facts = last_json_line(result.stdout)
    fragile = [p for p in facts["problems"] if "cannot make breakable again" in p]
    assert len(fragile) == 1, facts["problems"]
    assert "\n" not in fragile[0] and "second line" not in fragile[0]
    assert len(facts["warnings"]) == 1 and "\n" not in facts["warnings"][0]
    assert "cannot make breakable again" in facts["warnings"][0]
    assert facts["breakable"] == "Fragile"  # the surrogate keeps the class's name
