"""numpy arrays and scalars: their data, dtype and shape, rebuilt as real arrays even from untrusted dumps.

Rebuilding needs no code from the dump: a dtype is parsed from its string (or field list), the data is raw bytes.
Arrays of Python objects keep their elements as dumped values. Subclasses (np.matrix, masked arrays) come back as
plain arrays of the same data.
"""

from __future__ import annotations

from typing import Any

from pyheapdump.typesupport import TypeSupport


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


SUPPORTS = (
    TypeSupport("numpy.ndarray", ("numpy.ndarray",), capture_array, rebuild_array, safe=True),
    TypeSupport("numpy.generic", ("numpy.generic",), capture_scalar, rebuild_scalar, safe=True),
)
