"""The records of a dump as the loader sees them: the kinds and flags of docs/format.md, a record with named
fields, and the view that decodes records on first use."""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple

# Record kinds (docs/format.md).
(BIGINT, COMPLEX, STR, BYTES, BYTEARRAY, LIST, TUPLE, DICT, SET, FROZENSET, DEQUE, RANGE, SLICE, INSTANCE, REDUCE,
 CLASS, FUNCTION, MODULE, CODE, FRAME, TRACEBACK, GENERATOR, CELL, EXCEPTION, CAPTURED, SURROGATE) = range(2, 28)
FLAG_TRUNCATED = 1
FLAG_CUT_ITEMS = 4
FLAG_CAPTURE_ERROR = 2
CUT_REASONS = {1: "max_objects", 2: "max_bytes", 3: "time_limit", 4: "max_items", 5: "unreadable"}
_CONTAINER_KINDS = {LIST: list, TUPLE: tuple, DICT: dict, SET: set, FROZENSET: frozenset, DEQUE: deque}
_KIND_NAMES = {FRAME: "frame", TRACEBACK: "traceback", CELL: "cell", MODULE: "module", CODE: "code"}

_MISSING = object()


class Record(NamedTuple):
    """One decoded record, as native/record_decoder.h returns it (a 10-tuple), with its fields named."""

    id: int
    kind: int
    type_id: int
    flags: int
    size: int
    # Values; the positions named in item_refs hold a record id (an int) or a cut (a tuple (reason, class id)).
    items: list[Any]
    item_refs: list[int]
    # Name -> value; the names in attr_refs hold a record id or a cut, as in items.
    attrs: dict[str, Any]
    attr_refs: list[str]
    # str for STR records, bytes otherwise.
    data: Any


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
