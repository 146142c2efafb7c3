"""The records of a dump as the loader sees them: the kinds and flags of docs/format.md, a record with named
fields, and the view that decodes records on first use."""

from __future__ import annotations

from collections import deque, namedtuple

import pyheapdump._native as _native

# No typing at run time (the load benchmark and every debugger session pay for it).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# The format's vocabulary (docs/format.md) has one source, native/format.h's enums, which the bindings export; plain
# ints here, because the loader compares and hashes them per record.
BIGINT = int(_native.Kind.BIGINT)
COMPLEX = int(_native.Kind.COMPLEX)
STR = int(_native.Kind.STR)
BYTES = int(_native.Kind.BYTES)
BYTEARRAY = int(_native.Kind.BYTEARRAY)
LIST = int(_native.Kind.LIST)
TUPLE = int(_native.Kind.TUPLE)
DICT = int(_native.Kind.DICT)
SET = int(_native.Kind.SET)
FROZENSET = int(_native.Kind.FROZENSET)
DEQUE = int(_native.Kind.DEQUE)
RANGE = int(_native.Kind.RANGE)
SLICE = int(_native.Kind.SLICE)
INSTANCE = int(_native.Kind.INSTANCE)
REDUCE = int(_native.Kind.REDUCE)
CALL = int(_native.Kind.CALL)  # a REDUCE with only arguments, written inline (format 1.4)
CLASS = int(_native.Kind.CLASS)
FUNCTION = int(_native.Kind.FUNCTION)
MODULE = int(_native.Kind.MODULE)
CODE = int(_native.Kind.CODE)
FRAME = int(_native.Kind.FRAME)
TRACEBACK = int(_native.Kind.TRACEBACK)
GENERATOR = int(_native.Kind.GENERATOR)
CELL = int(_native.Kind.CELL)
EXCEPTION = int(_native.Kind.EXCEPTION)
CAPTURED = int(_native.Kind.CAPTURED)
SURROGATE = int(_native.Kind.SURROGATE)
FLAG_TRUNCATED = int(_native.RecordFlag.TRUNCATED)
FLAG_CAPTURE_ERROR = int(_native.RecordFlag.CAPTURE_ERROR)
FLAG_CUT_ITEMS = int(_native.RecordFlag.CUT_ITEMS)
CUT_REASONS = {int(reason): reason.name.lower() for reason in _native.CutReason}
_CONTAINER_KINDS = {LIST: list, TUPLE: tuple, DICT: dict, SET: set, FROZENSET: frozenset, DEQUE: deque}
_KIND_NAMES = {FRAME: "frame", TRACEBACK: "traceback", CELL: "cell", MODULE: "module", CODE: "code"}

_MISSING = object()


# One decoded record, as native/record_decoder.h returns it (a 10-tuple), with its fields named: id, kind, type_id,
# flags, size; items and item_refs (the positions of items that hold a record id, or a cut: a tuple (reason, class
# id)); attrs (name -> value) and attr_refs (the names holding a record id or a cut, as in items); data (str for STR
# records, bytes otherwise). A collections.namedtuple: typing.NamedTuple would import typing.
Record = namedtuple("Record", "id kind type_id flags size items item_refs attrs attr_refs data")


class RecordView:
    """Record id -> the record (native/record_decoder.h), decoded from the core on first use."""

    def __init__(self, core: Any) -> None:
        self._core = core
        self._decoded: dict[int, Any] = {}

    def get(self, oid: Any, default: Any = None) -> Record | Any:
        record = self._decoded.get(oid, _MISSING)
        if record is _MISSING:
            record = None
            if type(oid) is int and 0 <= oid < 1 << 64:
                try:
                    decoded = self._core.record(oid)
                except ValueError:  # a record that does not decode: as if it were not in the file
                    decoded = None
                # None: no record of that id in the file.
                record = Record._make(decoded) if decoded is not None else None
            self._decoded[oid] = record
        return default if record is None else record
