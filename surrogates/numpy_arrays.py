"""numpy arrays and scalars: their data, dtype and shape, rebuilt as real arrays even from untrusted dumps.

Rebuilding needs no code from the dump: a dtype is parsed from its string (or field list), the data is raw bytes.
Arrays of Python objects keep their elements as dumped values. Subclasses (np.matrix, masked arrays) come back as
plain arrays of the same data.
"""

from __future__ import annotations

from pyheapdump.typesupport import TypeSupport

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any

PREVIEW_ITEMS = 5
# The previews below import datetime and struct where they use them: this module is imported with the package (the
# dump side registers its support), where neither is needed.


def _dtype_spec(dtype: Any) -> Any:
    # A structured dtype is described by its field list; every other dtype by its string ('<f8', '<M8[ns]', ...).
    return [list(field) for field in dtype.descr] if dtype.fields else dtype.str


def capture_array(array: Any) -> dict[str, Any]:
    order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
    state: dict[str, Any] = {"dtype": _dtype_spec(array.dtype), "shape": list(array.shape), "order": order}
    if array.dtype.hasobject:
        state["items"] = array.ravel(order="K").tolist() if array.size else []
    else:
        state["data"] = array.tobytes(order=order)
    return state


def _dtype(spec: Any) -> Any:
    import numpy

    if isinstance(spec, list):
        return numpy.dtype([tuple(field) for field in spec])
    return numpy.dtype(spec)


def rebuild_array(state: dict[str, Any]) -> Any:
    import numpy

    dtype = _dtype(state["dtype"])
    shape = tuple(state["shape"])
    order = state.get("order", "C")
    if "items" in state:
        array = numpy.empty(len(state["items"]), dtype=dtype)
        array[:] = state["items"]
        return array.reshape(shape, order=order)
    data = state["data"]
    expected = dtype.itemsize * int(numpy.prod(shape, dtype=numpy.int64))
    if len(data) != expected:
        raise ValueError(f"array data is {len(data)} bytes, its shape and dtype need {expected} (cut by max_str?)")
    return numpy.frombuffer(data, dtype=dtype).reshape(shape, order=order).copy(order="K")


def capture_scalar(scalar: Any) -> dict[str, Any]:
    return {"dtype": _dtype_spec(scalar.dtype), "data": scalar.tobytes()}


def rebuild_scalar(state: dict[str, Any]) -> Any:
    import numpy

    return numpy.frombuffer(state["data"], dtype=_dtype(state["dtype"]))[0]


# ---- what a surrogate shows where numpy cannot be imported: decoded from the state with the standard library ----

_STRUCT_CODES = {("i", 1): "b", ("i", 2): "h", ("i", 4): "i", ("i", 8): "q", ("u", 1): "B", ("u", 2): "H",
                 ("u", 4): "I", ("u", 8): "Q", ("f", 2): "e", ("f", 4): "f", ("f", 8): "d", ("b", 1): "?",
                 ("M", 8): "q", ("m", 8): "q", ("c", 8): "ff", ("c", 16): "dd"}
_KIND_NAMES = {"i": "int", "u": "uint", "f": "float", "c": "complex"}
_NAT = -(2**63)
_UNIT_MICROSECONDS = {"D": 86_400_000_000, "h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000, "ms": 1_000,
                      "us": 1}
_UNIT_DIVISORS = {"ns": 1_000, "ps": 1_000_000, "fs": 1_000_000_000, "as": 1_000_000_000_000}


def _parse_dtype(spec: Any) -> tuple[str, str, int, str] | None:
    """(byte order, kind, item size, unit) of a simple dtype string such as '<f8' or '<M8[ns]'; None otherwise."""
    if not isinstance(spec, str) or len(spec) < 3 or spec[0] not in "<>|=":
        return None
    body, _, unit = spec[1:].partition("[")
    if not body[1:].isdigit():
        return None
    return ("<" if spec[0] in "<|=" else ">"), body[0], int(body[1:]), unit.rstrip("]")


def dtype_name(spec: Any) -> str:
    """numpy's name of a dumped dtype spec ('<f8' -> 'float64'), without numpy."""
    parsed = _parse_dtype(spec)
    if parsed is None:
        return "object" if spec == "|O" else "structured" if isinstance(spec, list) else str(spec)
    _, kind, size, unit = parsed
    if kind in _KIND_NAMES:
        return f"{_KIND_NAMES[kind]}{size * 8}"
    names = {"b": "bool", "M": f"datetime64[{unit}]", "m": f"timedelta64[{unit}]", "U": f"<U{size // 4}",
             "S": f"|S{size}", "V": f"|V{size}"}
    return names.get(kind, str(spec))


def _from_int(kind: str, unit: str, number: int) -> Any:
    import datetime

    if number == _NAT:
        return "NaT"
    if unit in _UNIT_DIVISORS:
        micro = number // _UNIT_DIVISORS[unit]
    elif unit in _UNIT_MICROSECONDS:
        micro = number * _UNIT_MICROSECONDS[unit]
    else:
        return number
    delta = datetime.timedelta(microseconds=micro)
    return datetime.datetime(1970, 1, 1) + delta if kind == "M" else delta


def preview_items(state: Any, limit: int = PREVIEW_ITEMS) -> list[Any] | None:
    """The first `limit` elements (in memory order) of an array state, decoded without numpy; None when its dtype
    is not a simple one."""
    import struct

    if not isinstance(state, dict):
        return None
    if isinstance(state.get("items"), list):
        return state["items"][:limit]
    parsed = _parse_dtype(state.get("dtype"))
    data = state.get("data")
    if parsed is None or not isinstance(data, bytes):
        return None
    order, kind, size, unit = parsed
    if kind == "U":
        return [data[i * size:(i + 1) * size].decode("utf-32-le" if order == "<" else "utf-32-be", "replace")
                .rstrip("\0") for i in range(min(limit, len(data) // size))]
    if kind == "S":
        return [data[i * size:(i + 1) * size].rstrip(b"\0") for i in range(min(limit, len(data) // size))]
    code = _STRUCT_CODES.get((kind, size))
    if code is None:
        return None
    count = min(limit, len(data) // size)
    values = list(struct.unpack(f"{order}{code * count}", data[:count * size]))
    if kind == "c":
        return [complex(values[i], values[i + 1]) for i in range(0, len(values), 2)]
    if kind in "Mm":
        return [_from_int(kind, unit, value) for value in values]
    return values


def array_shape(state: Any) -> tuple[int, ...]:
    shape = state.get("shape") if isinstance(state, dict) else None
    return tuple(shape) if isinstance(shape, list) and all(type(n) is int for n in shape) else ()


def describe_array(state: Any) -> str:
    shape = array_shape(state)
    dtype = dtype_name(state.get("dtype")) if isinstance(state, dict) else "?"
    items = preview_items(state)
    size = 1
    for n in shape:
        size *= n
    shown = "" if items is None else ": [" + ", ".join(map(repr, items)) + (", ...]" if size > len(items) else "]")
    return f"<surrogate numpy.ndarray shape={shape} dtype={dtype}{shown}>"


def describe_scalar(state: Any) -> str:
    dtype = state.get("dtype") if isinstance(state, dict) else None
    items = preview_items({"dtype": dtype, "data": state.get("data")}, 1) if isinstance(state, dict) else None
    value = f" {items[0]!r}" if items else ""
    return f"<surrogate numpy {dtype_name(dtype)}{value}>"


SUPPORTS = (
    TypeSupport("numpy.ndarray", ("numpy.ndarray",), capture_array, rebuild_array, safe=True,
                describe=describe_array),
    TypeSupport("numpy.generic", ("numpy.generic",), capture_scalar, rebuild_scalar, safe=True,
                describe=describe_scalar),
)
