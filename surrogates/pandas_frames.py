"""pandas DataFrames, Series, Indexes and extension arrays: rebuilt as real pandas objects, even from untrusted dumps.

A frame's data lives in a BlockManager whose fields are C-level (Cython) state the walker cannot read, so the capture
asks pandas itself for the columns: each column becomes plain data (numpy bytes via the numpy support's capture,
categorical codes and categories, the values and mask of a nullable array, a string column's values, UTC integers
and a time zone name for tz-aware datetimes). Rebuilding calls only pandas' public constructors on that data.

The capture never runs the program's code: a subclass's manager is read from its instance dict and wrapped in a
plain DataFrame/Series by pandas' own `_from_mgr`, so none of the subclass's methods or properties run. A subclass
therefore comes back as a plain DataFrame or Series holding the same data; its extra attributes (`_metadata`) are not
kept. An Index subclass the program defines is not captured (its surrogate keeps its instance dict).

Where pandas is not installed, the surrogate's repr shows the class, shape, columns, dtypes and first rows, decoded
from the captured data with the standard library.
"""

from __future__ import annotations

from pyheapdump.surrogates.numpy_arrays import (
    PREVIEW_ITEMS,
    array_shape,
    capture_array,
    dtype_name,
    preview_items,
    rebuild_array,
)
from pyheapdump.typesupport import TypeSupport

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    import datetime
    from typing import Any

# datetime and math are imported by the functions that use them: this module is imported with the package (the dump
# side registers its support), where neither is needed; a capture finds them imported by pandas already.

_instance_dict = object.__getattribute__


def _own_dict(obj: Any) -> dict[str, Any]:
    state = _instance_dict(obj, "__dict__")
    if not isinstance(state, dict):
        raise TypeError("no instance dict")
    return state


# ---- capture (dump time, with pandas) ----

def _tz_state(tz: Any) -> Any:
    import datetime

    from pandas._libs.tslibs import timezones

    if isinstance(tz, datetime.timezone):
        offset = datetime.timezone.utcoffset(tz, None)
        return "UTC" if not offset else {"offset": offset.total_seconds()}
    name = timezones.get_timezone(tz)  # pandas' own name of a zoneinfo, pytz or dateutil zone
    if isinstance(name, str):
        return name
    raise TypeError(f"time zone of type {type(tz).__name__} has no name to rebuild it by")


def capture_values(array: Any) -> dict[str, Any]:
    """Plain data of one column: a numpy array or a pandas ExtensionArray."""
    import math

    import numpy
    import pandas

    if isinstance(array, numpy.ndarray):
        return {"kind": "numpy", "array": capture_array(array)}
    dtype = array.dtype
    if isinstance(dtype, pandas.DatetimeTZDtype):
        return {"kind": "datetimetz", "unit": dtype.unit, "tz": _tz_state(dtype.tz),
                "i8": capture_array(numpy.asarray(array.asi8))}
    if isinstance(dtype, pandas.CategoricalDtype):
        return {"kind": "categorical", "categories": capture_index(dtype.categories), "ordered": bool(dtype.ordered),
                "codes": capture_array(numpy.asarray(array.codes))}
    if isinstance(dtype, pandas.StringDtype):
        missing = numpy.asarray(array.isna())
        items = numpy.asarray(array, dtype=object).tolist()
        na = dtype.na_value
        return {"kind": "string", "storage": dtype.storage,
                "na": "nan" if isinstance(na, float) and math.isnan(na) else "NA",
                "items": [None if gone else item for item, gone in zip(items, missing.tolist(), strict=False)]}
    if isinstance(dtype, pandas.api.extensions.ExtensionDtype) and hasattr(dtype, "numpy_dtype") and \
            isinstance(array, pandas.api.extensions.ExtensionArray) and _is_masked(array):
        mask = numpy.asarray(array.isna())
        fill = False if dtype.numpy_dtype.kind == "b" else 0
        data = array.to_numpy(dtype=dtype.numpy_dtype, na_value=fill)
        return {"kind": "masked", "dtype": dtype.name, "data": capture_array(data), "mask": capture_array(mask)}
    if isinstance(dtype, numpy.dtype):
        # NumpyExtensionArray, DatetimeArray and TimedeltaArray without a time zone: their numpy data.
        return {"kind": "numpy", "array": capture_array(array.to_numpy(copy=False))}
    # Period, interval, sparse, ...: the elements as Python objects, rebuilt by the dtype's name.
    return {"kind": "extension", "dtype": str(dtype), "items": numpy.asarray(array, dtype=object).tolist()}


def _is_masked(array: Any) -> bool:
    from pandas.core.arrays.masked import BaseMaskedArray

    return isinstance(array, BaseMaskedArray)


def _plain_index(index: Any) -> Any:
    import pandas

    cls = type(index)
    if not str(type.__dict__["__module__"].__get__(cls)).startswith("pandas"):
        raise TypeError(f"{cls.__qualname__} is an Index subclass of the program; its code must not run")
    return index if isinstance(index, pandas.Index) else pandas.Index(index)


def capture_index(index: Any) -> dict[str, Any]:
    import pandas

    index = _plain_index(index)
    if isinstance(index, pandas.RangeIndex):
        return {"kind": "range", "start": index.start, "stop": index.stop, "step": index.step, "name": index.name}
    if isinstance(index, pandas.MultiIndex):
        return {"kind": "multi", "levels": [capture_index(level) for level in index.levels],
                "codes": [capture_array(codes) for codes in index.codes], "names": list(index.names)}
    values = index.to_numpy(copy=False) if _numpy_dtype(index.dtype) else index.array
    state: dict[str, Any] = {"kind": "index", "values": capture_values(values), "name": index.name}
    freq = getattr(index, "freqstr", None) if isinstance(index, (pandas.DatetimeIndex, pandas.TimedeltaIndex)) \
        else None
    if freq:
        state["freq"] = freq
    return state


def _column_arrays(frame: Any) -> list[Any]:
    arrays = []
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        arrays.append(column.array if not _numpy_dtype(column.dtype) else column.to_numpy(copy=False))
    return arrays


def _numpy_dtype(dtype: Any) -> bool:
    import numpy

    return isinstance(dtype, numpy.dtype)


def capture_frame(frame: Any) -> dict[str, Any]:
    import pandas

    own = _own_dict(frame)
    manager = own["_mgr"]
    plain = pandas.DataFrame._from_mgr(manager, axes=manager.axes)  # pandas' code only, whatever the subclass
    state: dict[str, Any] = {
        "index": capture_index(plain.index),
        "columns": capture_index(plain.columns),
        "data": [capture_values(array) for array in _column_arrays(plain)],
        "dtypes": [str(dtype) for dtype in plain.dtypes.tolist()],
        "shape": list(plain.shape),
    }
    attrs = own.get("_attrs")
    if isinstance(attrs, dict) and attrs:
        state["attrs"] = attrs
    return state


def capture_series(series: Any) -> dict[str, Any]:
    import pandas

    own = _own_dict(series)
    manager = own["_mgr"]
    plain = pandas.Series._from_mgr(manager, axes=manager.axes)
    values = plain.to_numpy(copy=False) if _numpy_dtype(plain.dtype) else plain.array
    state: dict[str, Any] = {"index": capture_index(plain.index), "values": capture_values(values),
                             "name": own.get("_name"), "dtype": str(plain.dtype), "shape": [len(plain)]}
    attrs = own.get("_attrs")
    if isinstance(attrs, dict) and attrs:
        state["attrs"] = attrs
    return state


def capture_extension_array(array: Any) -> dict[str, Any]:
    cls = type(array)
    if not str(type.__dict__["__module__"].__get__(cls)).startswith("pandas"):
        raise TypeError(f"{cls.__qualname__} is an extension array of the program; its code must not run")
    return {"values": capture_values(array), "dtype": str(array.dtype), "shape": [len(array)]}


# ---- rebuild (load time, with pandas; public constructors only) ----

def _tz(state: Any) -> Any:
    import datetime

    if isinstance(state, dict):
        return datetime.timezone(datetime.timedelta(seconds=float(state["offset"])))
    if not isinstance(state, str):
        raise TypeError("a time zone is a name or an offset")
    return state


def rebuild_values(state: dict[str, Any]) -> Any:
    import numpy
    import pandas

    kind = state["kind"]
    if kind == "numpy":
        return rebuild_array(state["array"])
    if kind == "datetimetz":
        utc = rebuild_array(state["i8"]).astype(numpy.int64, copy=False).view(f"M8[{state['unit']}]")
        return pandas.DatetimeIndex(utc).tz_localize("UTC").tz_convert(_tz(state["tz"])).array
    if kind == "categorical":
        dtype = pandas.CategoricalDtype(rebuild_index(state["categories"]), ordered=bool(state["ordered"]))
        return pandas.Categorical.from_codes(rebuild_array(state["codes"]), dtype=dtype)
    if kind == "string":
        na = numpy.nan if state["na"] == "nan" else pandas.NA
        dtype = pandas.StringDtype(storage=state["storage"], na_value=na)
        return pandas.array(numpy.array(state["items"], dtype=object), dtype=dtype)
    if kind == "masked":
        dtype = pandas.api.types.pandas_dtype(state["dtype"])
        mask = rebuild_array(state["mask"]).astype(bool, copy=False)
        return dtype.construct_array_type()(rebuild_array(state["data"]), mask)
    if kind == "extension":
        items = numpy.array(state["items"], dtype=object)
        return pandas.array(items, dtype=pandas.api.types.pandas_dtype(state["dtype"]))
    raise ValueError(f"unknown column kind {kind!r}")


def rebuild_index(state: dict[str, Any]) -> Any:
    import pandas

    kind = state["kind"]
    if kind == "range":
        return pandas.RangeIndex(state["start"], state["stop"], state["step"], name=state["name"])
    if kind == "multi":
        return pandas.MultiIndex(levels=[rebuild_index(level) for level in state["levels"]],
                                 codes=[rebuild_array(codes) for codes in state["codes"]], names=state["names"],
                                 verify_integrity=False)
    if kind != "index":
        raise ValueError(f"unknown index kind {kind!r}")
    values = rebuild_values(state["values"])
    index = pandas.Index(values, name=state["name"], dtype=values.dtype, copy=False)
    if state.get("freq"):
        index = type(index)(index, freq=state["freq"], name=state["name"])
    return index


def rebuild_frame(state: dict[str, Any]) -> Any:
    import pandas

    index = rebuild_index(state["index"])
    columns = rebuild_index(state["columns"])
    arrays = [rebuild_values(column) for column in state["data"]]
    if len(arrays) != len(columns):
        raise ValueError(f"{len(arrays)} column arrays for {len(columns)} column labels")
    # Positions as keys: labels may repeat or be unhashable-looking tuples; the real labels are set afterwards.
    frame = pandas.DataFrame(dict(enumerate(arrays)), index=index, copy=False) if arrays else \
        pandas.DataFrame(index=index)
    frame.columns = columns
    if state.get("attrs"):
        frame.attrs = dict(state["attrs"])
    return frame


def rebuild_series(state: dict[str, Any]) -> Any:
    import pandas

    values = rebuild_values(state["values"])
    series = pandas.Series(values, index=rebuild_index(state["index"]), name=state["name"], dtype=values.dtype,
                           copy=False)
    if state.get("attrs"):
        series.attrs = dict(state["attrs"])
    return series


def rebuild_extension_array(state: dict[str, Any]) -> Any:
    return rebuild_values(state["values"])


# ---- what a surrogate shows where pandas cannot be imported (standard library only) ----

def preview_values(state: Any, limit: int = PREVIEW_ITEMS) -> list[Any]:
    """The first `limit` values of a captured column, as plain Python values ('?' where they cannot be decoded)."""
    import datetime

    kind = state.get("kind") if isinstance(state, dict) else None
    if kind == "numpy":
        items = preview_items(state["array"], limit)
    elif kind == "datetimetz":
        items = preview_items({**state["i8"], "dtype": f"<M8[{state['unit']}]"}, limit)
        if items is not None:
            zone = _preview_zone(state["tz"])
            items = [item if not isinstance(item, datetime.datetime) else
                     item.replace(tzinfo=datetime.UTC).astimezone(zone) for item in items]
    elif kind == "categorical":
        codes = preview_items(state["codes"], limit) or []
        categories = preview_index(state["categories"], max((code for code in codes if type(code) is int),
                                                             default=-1) + 1)
        items = [categories[code] if type(code) is int and 0 <= code < len(categories) else "NaN" for code in codes]
    elif kind == "string" or kind == "extension":
        items = [("<NA>" if item is None else item) for item in state["items"][:limit]]
    elif kind == "masked":
        data = preview_items(state["data"], limit) or []
        mask = preview_items(state["mask"], limit) or [False] * len(data)
        items = ["<NA>" if gone else item for item, gone in zip(data, mask, strict=False)]
    else:
        items = None
    return items if items is not None else ["?"] * limit


def _preview_zone(tz: Any) -> datetime.tzinfo:
    import datetime

    if isinstance(tz, dict):
        return datetime.timezone(datetime.timedelta(seconds=float(tz.get("offset", 0))))
    try:
        import zoneinfo

        return zoneinfo.ZoneInfo(tz)
    except Exception:  # noqa: BLE001 - an unknown zone shows UTC times
        return datetime.UTC


def preview_index(state: Any, limit: int = PREVIEW_ITEMS) -> list[Any]:
    kind = state.get("kind") if isinstance(state, dict) else None
    if kind == "range":
        return list(range(state["start"], state["stop"], state["step"])[:limit])
    if kind == "multi":
        levels = [preview_index(level, 10**6) for level in state["levels"]]
        codes = [preview_items(level_codes, limit) or [] for level_codes in state["codes"]]
        return [tuple(level[code] if type(code) is int and 0 <= code < len(level) else "NaN"
                      for level, code in zip(levels, row, strict=False)) for row in zip(*codes, strict=False)]
    if kind == "index":
        return preview_values(state["values"], limit)
    return []


def _index_length(state: Any) -> int | None:
    kind = state.get("kind") if isinstance(state, dict) else None
    if kind == "range":
        return len(range(state["start"], state["stop"], state["step"]))
    if kind == "multi" and state["codes"]:
        shape = array_shape(state["codes"][0])
        return shape[0] if shape else None
    if kind == "index":
        values = state["values"]
        inner = values.get("array") or values.get("i8") or values.get("codes") or values.get("data")
        if inner is not None:
            shape = array_shape(inner)
            return shape[0] if shape else None
        return len(values.get("items", []))
    return None


def _cell(value: Any) -> str:
    import datetime

    plain = isinstance(value, (str, datetime.datetime, datetime.timedelta))
    text = str(value) if plain else repr(value)
    return text if len(text) <= 32 else text[:29] + "..."


def _table(labels: list[Any], header: list[str], columns: list[list[Any]]) -> list[str]:
    rows = [[_cell(label)] + [_cell(column[row]) if row < len(column) else "" for column in columns]
            for row, label in enumerate(labels)]
    table = [[""] + header, *rows]
    widths = [max(len(row[position]) for row in table) for position in range(len(header) + 1)]
    return ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=False)) for row in table]


def describe_frame(state: dict[str, Any], qualname: str = "DataFrame") -> str:
    rows, width = state["shape"]
    labels = preview_index(state["columns"], width)
    dtypes = state.get("dtypes") or ["?"] * width
    lines = [f"<surrogate pandas.{qualname}: {rows} rows x {width} columns"]
    lines.append("columns: " + ", ".join(f"{label!r} ({dtype})" for label, dtype in zip(labels, dtypes, strict=False)))
    shown = min(rows, PREVIEW_ITEMS)
    if width:
        lines.append(f"first {shown} rows:")
        lines += _table(preview_index(state["index"], shown), [_cell(label) for label in labels],
                        [preview_values(column, shown) for column in state["data"]])
    return "\n".join(lines) + ">"


def describe_series(state: dict[str, Any]) -> str:
    length = state["shape"][0]
    shown = min(length, PREVIEW_ITEMS)
    lines = [f"<surrogate pandas.Series: name={state['name']!r}, length {length}, dtype {state['dtype']}",
             f"first {shown} rows:"]
    lines += _table(preview_index(state["index"], shown), [_cell(state["name"])],
                    [preview_values(state["values"], shown)])
    return "\n".join(lines) + ">"


def describe_index(state: dict[str, Any]) -> str:
    length = _index_length(state)
    kind = state.get("kind")
    if kind == "range":
        return (f"<surrogate pandas.RangeIndex(start={state['start']}, stop={state['stop']}, step={state['step']}, "
                f"name={state['name']!r})>")
    values = preview_index(state)
    dtype = ""
    if kind == "index":
        inner = state["values"]
        dtype = dtype_name(inner["array"]["dtype"]) if inner.get("kind") == "numpy" else inner.get("kind", "")
        if inner.get("kind") == "datetimetz":
            dtype = f"datetime64[{inner['unit']}, {inner['tz']}]"
    names = state.get("names") if kind == "multi" else state.get("name")
    more = ", ..." if length is None or length > len(values) else ""
    return (f"<surrogate pandas.{'MultiIndex' if kind == 'multi' else 'Index'}: length {length}, "
            f"{'names' if kind == 'multi' else 'name'}={names!r}{', dtype ' + dtype if dtype else ''}: "
            f"[{', '.join(map(_cell, values))}{more}]>")


def describe_extension_array(state: dict[str, Any]) -> str:
    values = preview_values(state["values"])
    more = ", ..." if state["shape"][0] > len(values) else ""
    return (f"<surrogate pandas extension array: length {state['shape'][0]}, dtype {state['dtype']}: "
            f"[{', '.join(map(_cell, values))}{more}]>")


SUPPORTS = (
    TypeSupport("pandas.DataFrame", ("pandas.DataFrame", "pandas.core.frame.DataFrame"), capture_frame,
                rebuild_frame, safe=True, describe=describe_frame),
    TypeSupport("pandas.Series", ("pandas.Series", "pandas.core.series.Series"), capture_series, rebuild_series,
                safe=True, describe=describe_series),
    TypeSupport("pandas.Index", ("pandas.Index", "pandas.core.indexes.base.Index"), capture_index, rebuild_index,
                safe=True, describe=describe_index),
    TypeSupport("pandas.ExtensionArray", ("pandas.api.extensions.ExtensionArray",
                                          "pandas.core.arrays.base.ExtensionArray"),
                capture_extension_array, rebuild_extension_array, safe=True, describe=describe_extension_array),
)
