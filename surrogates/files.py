"""Open files: name, mode, whether closed, descriptor and position, read without flushing or moving anything.

A file object is tied to the dumped process; it loads as a surrogate carrying these facts.
"""

from __future__ import annotations

import os

from pyheapdump.typesupport import TypeSupport

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any


def _position(descriptor: int) -> int | None:
    # lseek(fd, 0, SEEK_CUR) asks the OS; f.tell() would flush a buffered writer, changing the program.
    try:
        return os.lseek(descriptor, 0, os.SEEK_CUR)
    except OSError:
        return None


def file_facts(file: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for name in ("name", "mode", "closed", "encoding", "errors", "newlines"):
        try:
            facts[name] = getattr(file, name)
        except (AttributeError, ValueError, OSError):
            continue
    if not facts.get("closed", True):
        try:
            descriptor = file.fileno()
        except (AttributeError, ValueError, OSError):
            descriptor = None
        if descriptor is not None:
            facts["fileno"] = descriptor
            facts["position"] = _position(descriptor)
    return facts


SUPPORTS = (
    TypeSupport(
        "file",
        ("_io.TextIOWrapper", "_io.BufferedReader", "_io.BufferedWriter", "_io.BufferedRandom", "_io.FileIO"),
        file_facts,
        facts_only=True,
    ),
)
