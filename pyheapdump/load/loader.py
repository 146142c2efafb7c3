"""load_dump: rebuild a dump's objects, safely by default.

Safe loading imports no module and calls nothing the dump names, beyond the fixed allow-lists (allowlists.py) of
standard-library value types (datetime, Decimal, Fraction, UUID, paths, collections, re patterns, enum members of
allow-listed enums, ...) and the type supports that declare themselves safe (numpy arrays). Everything else comes back
as a surrogate. `trusted=True` imports what the dump names and rebuilds real instances; an object that still cannot be
rebuilt becomes a surrogate on its own.
"""

from __future__ import annotations

import gc
import json
import mmap
import os

from pyheapdump.errors import DumpFormatError, DumpMemoryError
from pyheapdump.load.dumpfile import open_dump_file
from pyheapdump.load.rebuilder import Rebuilder

# The load benchmark and every debugger session pay for what the loader imports: no typing or dataclasses at run time
# (pyheapdump/_valueclass.py), nothing a kind of object needs before a dump holds one (ast, importlib, the __main__
# rebuilder), warnings only when a load has something to warn about. json stays: parsing is its job.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyheapdump.model import HeapDump

__all__ = ["load_dump", "read_header", "DumpLoadWarning"]


class DumpLoadWarning(UserWarning):
    """Part of a dump could not be loaded; the rest was."""


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The dump's header merged with its summary, plus `file_size` and `warnings`, without loading any object."""
    reader = open_dump_file(path)
    header = _read_json(reader.header_json, "header")
    try:
        summary = _read_json(reader.summary_json, "summary")
    except DumpFormatError as error:
        summary = {"summary_error": str(error)}
    header.update(summary)
    header["file_size"] = reader.file_size
    header["warnings"] = list(reader.warnings)
    return header


def _read_json(read_chunk: Any, what: str) -> dict[str, Any]:
    try:
        text = read_chunk()
    except UnicodeDecodeError as error:  # the chunk's crc matched, but its bytes are not UTF-8: a forged file
        raise DumpFormatError(f"the dump's {what} is not valid UTF-8 ({error.reason} at byte {error.start}): "
                              "the file is damaged") from None
    return _parse_json(text, what)


def _parse_json(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:  # RecursionError: arrays nested deeper than the parser goes
        raise DumpFormatError(f"the dump's {what} is not valid: {error}") from None
    if not isinstance(value, dict):
        raise DumpFormatError(f"the dump's {what} is not a JSON object")
    return value


def load_dump(path: str | os.PathLike[str], *, trusted: bool = False) -> HeapDump:
    """Loads a dump. Safe by default; `trusted=True` imports the dumped program's modules to rebuild real objects.

    A damaged file loads every intact part, with a DumpLoadWarning listing what was lost; DumpFormatError is raised
    only when nothing can be recovered, or when `path` names no dump at all (a directory, another file).
    DumpNotFoundError when nothing is at `path`. DumpMemoryError (a MemoryError too) when this process has too little
    memory.
    """
    metadata: dict[str, Any] = {}
    try:
        dump = _load(path, trusted, metadata)
    except MemoryError:
        # Raised below, once leaving this block has freed the half-built objects the traceback holds.
        pass
    else:
        if dump.warnings:
            import warnings

            warnings.warn(
                f"{os.fspath(path)}: loaded with {len(dump.warnings)} problem(s): " + "; ".join(dump.warnings[:5]),
                DumpLoadWarning,
                stacklevel=2,
            )
        return dump
    raise DumpMemoryError(_out_of_memory_message(path, metadata))


# Loading holds at most about this many times the records' raw size (README, "Reliability").
LOAD_MEMORY_FACTOR = 20


def _out_of_memory_message(path: str | os.PathLike[str], metadata: dict[str, Any]) -> str:
    raw = metadata.get("bytes")
    need = ""
    if type(raw) is int and raw > 0:
        need = (f" (its records are {_mib(raw)} raw; loading can take up to about {LOAD_MEMORY_FACTOR} times that, "
                f"{_mib(raw * LOAD_MEMORY_FACTOR)})")
    return (f"{os.fspath(path)}: loading this dump needs more memory than this process has{need}: "
            "load it on a machine with more memory, or raise this process's memory limit")


def _mib(size: int) -> str:
    return f"{size / (1 << 30):.1f} GiB" if size >= 1 << 30 else f"{size / (1 << 20):.1f} MiB"


def _load(path: str | os.PathLike[str], trusted: bool, metadata: dict[str, Any]) -> HeapDump:
    """load_dump's work; fills `metadata` (header, then summary) as soon as it is read, for the error messages."""
    reader = open_dump_file(path)
    metadata.update(_read_json(reader.header_json, "header"))
    problems: list[str] = []
    try:
        metadata.update(_read_json(reader.summary_json, "summary"))
    except DumpFormatError as error:
        problems.append(f"summary: {error}")
    # Loading makes millions of containers at once; the cycle collector would rescan them all again and again.
    collecting = gc.isenabled()
    gc.disable()
    rebuilder = None
    reserve = _address_space_reserve()
    try:
        rebuilder = Rebuilder(reader, trusted=trusted, metadata=metadata)
        sources = dict(reader.sources())
        problems.extend(reader.warnings)
        if not rebuilder.record_count:
            raise DumpFormatError(
                f"{os.fspath(path)}: no object could be recovered ({'; '.join(problems) or 'empty'})")
        dump = rebuilder.heap_dump(os.fspath(path), metadata, sources)
    finally:
        # First, and allocating nothing: a load that ran out of memory still holds every object it made, and the
        # calls below need some. Without it CPython 3.11 loops for ever raising MemoryError in this block.
        del reserve
        if rebuilder is not None:
            rebuilder.close()
        if collecting:
            gc.enable()
    dump.warnings[:0] = problems
    return dump


# Address space kept back while loading, for the cleanup after running out of memory (see _load): a few thousand
# small objects, a pymalloc arena or two.
_RESERVE_BYTES = 8 << 20


def _address_space_reserve() -> mmap.mmap | None:
    """An untouched anonymous mapping: it costs address space (what a memory limit counts, RLIMIT_AS) and no RAM, and
    freeing it returns that space at once, whatever the allocator keeps. None when even that cannot be had: the load
    then fails at once anyway."""
    try:
        return mmap.mmap(-1, _RESERVE_BYTES)
    except (OSError, ValueError):
        return None
