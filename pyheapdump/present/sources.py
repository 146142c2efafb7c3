"""Serve a dump's source files through `linecache`, under the filenames the dumped code objects carry.

pdb's `list`/`ll`/`source`, `inspect.getsource` and the `traceback` module all read source lines through
`linecache`. An entry whose mtime is None is never checked against the disk (`linecache.checkcache`
skips it, as it does for sources that came from a module's loader) and is found before any lazy loader
(`linecache.lazycache`) or file read, so the dumped text wins over whatever is on disk now.
"""

from __future__ import annotations

import contextlib
import linecache
import os
from collections.abc import Iterator, Mapping
from typing import Any

_Entry = Any  # linecache's entries: (size, mtime, lines, fullname), or a 1-tuple for a lazy loader


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"  # linecache's own reader does the same
    return lines


def _names_for(filename: str) -> list[str]:
    """The names a debugger may look the file up by: as dumped, and absolute the way pdb's `canonic` makes it."""
    names = [filename]
    if not (filename.startswith("<") and filename.endswith(">")):
        canonic = os.path.normcase(os.path.abspath(filename))
        if canonic != filename:
            names.append(canonic)
    return names


class SourceServer:
    """Registers dumped sources in `linecache` and puts back what was there before on `close()`."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self._saved: dict[str, _Entry | None] = {}
        dumped = {name for name in sources if isinstance(name, str)}
        for filename, text in sources.items():
            if not isinstance(filename, str) or not isinstance(text, str):
                continue
            for name in _names_for(filename):
                if name != filename and name in dumped:
                    continue  # another dumped file really has this name
                self._register(name, filename, text)

    def _register(self, name: str, filename: str, text: str) -> None:
        if name not in self._saved:
            self._saved[name] = linecache.cache.get(name)
        linecache.cache[name] = (len(text), None, _lines(text), filename)

    @property
    def filenames(self) -> list[str]:
        return list(self._saved)

    def close(self) -> None:
        for name, previous in self._saved.items():
            if previous is None:
                linecache.cache.pop(name, None)
            else:
                linecache.cache[name] = previous
        self._saved.clear()


@contextlib.contextmanager
def served_sources(sources: Mapping[str, str]) -> Iterator[SourceServer]:
    """`linecache` serves `sources` (filename -> text) inside the `with` block."""
    server = SourceServer(sources)
    try:
        yield server
    finally:
        server.close()
