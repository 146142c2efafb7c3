"""memoryview: the bytes it shows, with its format, shape and read-only flag, rebuilt as a real memoryview of a copy
of those bytes (read-only over bytes, writable over a bytearray)."""

from __future__ import annotations

from pyheapdump.typesupport import TypeSupport

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any


def capture_view(view: Any) -> dict[str, Any]:
    # tobytes() raises on a released view: the capture fails and the view loads as a surrogate saying so.
    return {"data": view.tobytes(), "format": view.format, "shape": list(view.shape), "readonly": view.readonly}


def rebuild_view(state: dict[str, Any]) -> Any:
    data, fmt, shape = state.get("data"), state.get("format"), state.get("shape")
    if not isinstance(data, bytes) or not isinstance(fmt, str) or not isinstance(shape, list):
        raise TypeError("the memoryview's state is damaged")
    view = memoryview(data if state.get("readonly") else bytearray(data))
    if fmt == "B" and shape == [len(data)]:
        return view
    return view.cast(fmt, shape)  # type: ignore[call-overload]  # any struct format; raises when the bytes do not fill the shape (cut by max_str)


SUPPORTS = (TypeSupport("memoryview", ("builtins.memoryview",), capture_view, rebuild_view, safe=True),)
