"""pandas objects in a dump: real DataFrames, Series and Indexes where pandas is installed (safe and trusted loads),
informative surrogates where it is not.

The dump is written by tests/python/programs/real_pandas_pipeline.py (a CSV read from a StringIO, groupby, merge,
categorical, tz-aware datetimes, nullable dtypes, object columns, a DataFrame subclass, a KeyError dumped from its
except block); the program also pickles the frames it holds, which is what the loaded ones are compared with.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest
from engine_support import REPO, child_env, last_json_line, run_program

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")

import pyheapdump  # noqa: E402


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    directory = tmp_path_factory.mktemp("pandas")
    dump, reference = directory / "pipeline.pyhd", directory / "reference.pkl"
    result = run_program("real_pandas_pipeline.py", dump, reference)
    with open(reference, "rb") as handle:
        expected = pickle.load(handle)
    return dump, expected, last_json_line(result.stdout)


def _pipeline_locals(path: Path, trusted: bool) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DumpLoadWarning (the pybind11 get() message it once carried) fails
        dump = pyheapdump.load_dump(path, trusted=trusted)
    assert dump.warnings == []
    frame = next(f for f in dump.current_thread.frames if f.f_code.co_name == "pipeline")
    assert isinstance(dump.exception, KeyError)
    return frame.f_locals


def _check_real_objects(found: dict[str, Any], expected: dict[str, Any]) -> None:
    for name, frame in expected["frames"].items():
        loaded = found[name]
        assert type(loaded) is pd.DataFrame, f"{name}: {type(loaded)}"
        assert pyheapdump.surrogate_info(loaded) is None
        pd.testing.assert_frame_equal(loaded, frame)
        assert loaded.dtypes.tolist() == frame.dtypes.tolist()
        assert loaded.shape == frame.shape
        assert repr(loaded) == repr(frame)
    for name, series in expected["series"].items():
        assert type(found[name]) is pd.Series
        pd.testing.assert_series_equal(found[name], series)
    pd.testing.assert_index_equal(found["placed_index"], expected["placed_index"])
    np.testing.assert_array_equal(found["matrix"], expected["matrix"])

    orders = found["orders"]
    assert str(orders["placed"].dtype) == "datetime64[us, Europe/Berlin]"
    assert list(orders["status"].cat.categories) == ["pending", "shipped", "cancelled"]
    assert orders["quantity"].isna().tolist() == [False, False, False, True, False, False, False]
    assert orders["note"].tolist()[2] == {"wrap": True}
    merged = found["merged"]
    assert isinstance(merged.index, pd.MultiIndex) and list(merged.index.names) == ["customer", "order_id"]
    assert isinstance(found["orders"].index, pd.RangeIndex)
    assert found["daily"].index.freqstr == "D"


def test_safe_load_gives_real_frames_without_warnings(pipeline: tuple[Path, dict[str, Any], dict[str, Any]]) -> None:
    path, expected, report = pipeline
    found = _pipeline_locals(path, trusted=False)
    _check_real_objects(found, expected)
    # The program's DataFrame subclass comes back as a plain DataFrame with its data; dumping ran none of its code.
    assert report["audited_type"] == "AuditedFrame"
    assert type(found["audited"]) is pd.DataFrame
    assert report["side_effects"] == []


def test_trusted_load_gives_the_same_real_frames(pipeline: tuple[Path, dict[str, Any], dict[str, Any]]) -> None:
    path, expected, _ = pipeline
    found = _pipeline_locals(path, trusted=True)
    _check_real_objects(found, expected)
    assert found["merged"].shape == (7, 10)
    assert "[7 rows x 10 columns]" in repr(found["merged"])


_LOADER = """
import json, sys, pyheapdump
dump = pyheapdump.load_dump(sys.argv[1])
frame = next(f for f in dump.current_thread.frames if f.f_code.co_name == "pipeline")
report = {}
for name in ("orders", "merged", "amounts", "by_region_status", "placed_index", "matrix", "audited", "empty"):
    value = frame.f_locals[name]
    info = pyheapdump.surrogate_info(value)
    report[name] = {"repr": repr(value), "detail": info.detail if info else None,
                    "reason": info.reason if info else None}
report["warnings"] = dump.warnings
report["modules"] = [m for m in ("numpy", "pandas") if m in sys.modules]
print(json.dumps(report))
"""


def test_without_pandas_and_numpy_surrogates_show_the_data(
        pipeline: tuple[Path, dict[str, Any], dict[str, Any]], bare_python: Path) -> None:
    path, _, _ = pipeline
    result = subprocess.run([str(bare_python), "-W", "error", "-c", _LOADER, str(path)], capture_output=True,
                            text=True, timeout=180, check=False, env=child_env(), cwd=REPO)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["modules"] == []
    assert report["warnings"] == []

    orders = report["orders"]
    assert orders["reason"] == "rebuild failed"
    assert "pandas is not installed" in orders["detail"] or "numpy is not installed" in orders["detail"]
    text = orders["repr"]
    assert text.startswith("<surrogate pandas.DataFrame: 7 rows x 10 columns")
    for column in ("'order_id' (int64)", "'amount' (float64)", "'quantity' (Int64)",
                   "'placed' (datetime64[us, Europe/Berlin])", "'status' (category)", "'big' (boolean)",
                   "'note' (object)", "'label' (string)"):
        assert column in text
    rows = text.splitlines()
    assert rows[2] == "first 5 rows:"
    assert len(rows) == 3 + 1 + 5
    first = rows[4].split()
    assert first[:5] == ["0", "1001", "alice", "19.99", "1"]
    assert "2024-03-01 09:15:00+01:00" in rows[4] and "shipped" in rows[4]
    assert "<NA>" in rows[7]  # the missing Int64 quantity of order 1004
    assert "{'wrap': True}" in rows[6]

    merged = report["merged"]["repr"]
    assert "7 rows x 10 columns" in merged and "('alice', 1001)" in merged and "'region' (str)" in merged
    amounts = report["amounts"]["repr"]
    assert "name='amounts', length 7, dtype float64" in amounts and "19.99" in amounts
    assert "('north', 'cancelled')" in report["by_region_status"]["repr"]
    assert "name='placed_at'" in report["placed_index"]["repr"]
    assert "2024-03-01 09:15:00+01:00" in report["placed_index"]["repr"]
    assert report["audited"]["repr"].startswith("<surrogate pandas.DataFrame: 3 rows x 2 columns")
    assert report["empty"]["repr"].startswith("<surrogate pandas.DataFrame: 0 rows x 0 columns")

    matrix = report["matrix"]
    assert matrix["repr"] == "<surrogate numpy.ndarray shape=(3, 4) dtype=float64: [0.0, 0.25, 0.5, 0.75, 1.0, ...]>"
    assert "numpy is not installed" in matrix["detail"]
