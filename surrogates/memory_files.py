"""In-memory files (io.StringIO, io.BytesIO): their whole content and position, rebuilt as real objects."""

from __future__ import annotations

import io

from pyheapdump.typesupport import TypeSupport

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any


def capture_memory_file(file: Any) -> dict[str, Any]:
    if file.closed:
        return {"closed": True}
    return {"closed": False, "value": file.getvalue(), "position": file.tell()}


def rebuild_memory_file(state: dict[str, Any]) -> Any:
    value = state.get("value", "")
    file = io.StringIO() if isinstance(value, str) else io.BytesIO()
    if state.get("closed"):
        file.close()
        return file
    file.write(value)
    file.seek(int(state.get("position", 0)))
    return file


SUPPORTS = (
    TypeSupport("memory-file", ("_io.StringIO", "_io.BytesIO"), capture_memory_file, rebuild_memory_file, safe=True),
)
