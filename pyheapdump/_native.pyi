"""pyheapdump's C++ core (native/bindings.cc): the object-graph walker, the chunked writer and the bounded reader.

Errors: DumpWriter raises pyheapdump.errors.DumpWriteError, DumpReader DumpNotFoundError or DumpFormatError, and both
DumpMemoryError (a MemoryError) when this process runs out of memory; Rebuilder raises MemoryError, a ValueError for a
record that does not decode, and whatever the handler raised that is not one object's problem.
"""

import enum
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

_T = TypeVar("_T")

FORMAT_VERSION: tuple[int, int]

class Kind(enum.IntEnum):
    """Record kinds (docs/format.md, "Records"; `enum class Kind` in native/format.h)."""

    ROOT = 1
    BIGINT = 2
    COMPLEX = 3
    STR = 4
    BYTES = 5
    BYTEARRAY = 6
    LIST = 7
    TUPLE = 8
    DICT = 9
    SET = 10
    FROZENSET = 11
    DEQUE = 12
    RANGE = 13
    SLICE = 14
    INSTANCE = 15
    REDUCE = 16
    CLASS = 17
    FUNCTION = 18
    MODULE = 19
    CODE = 20
    FRAME = 21
    TRACEBACK = 22
    GENERATOR = 23
    CELL = 24
    EXCEPTION = 25
    CAPTURED = 26
    SURROGATE = 27
    CALL = 28

class RecordFlag(enum.IntFlag):
    """A record's flags (`RecordFlags` in native/format.h)."""

    TRUNCATED = 1
    CAPTURE_ERROR = 2
    CUT_ITEMS = 4
    CUT_RECORD = 8

class CutReason(enum.IntEnum):
    """Why a value was cut; the lower-case name is the one statistics and messages use."""

    MAX_OBJECTS = 1
    MAX_BYTES = 2
    TIME_LIMIT = 3
    MAX_ITEMS = 4
    UNREADABLE = 5

class Strategy(enum.IntEnum):
    """How the walker captures objects of a type, as the policy answers (native/walker.h)."""

    INSTANCE = 1
    REDUCE = 2
    CAPTURE = 3
    SURROGATE = 4

# policy(cls) -> (strategy, capture callable or None, capture name or None, repr_ok)
_Policy = Callable[[type], tuple[int, Any, str | None, bool]]
_Redactor = Callable[[str | bytes], str | bytes | None]
# (id, kind, type_id, flags, size, items, item_refs, attrs, attr_refs, data): native/record_decoder.h
_RecordTuple = tuple[int, int, int, int, int, list[Any], list[int], dict[str, Any], list[str], str | bytes]

def sha256_hex(data: bytes) -> str:
    """SHA-256 of data as 64 hex digits, as hashlib.sha256(data).hexdigest(), without loading OpenSSL."""

def weakref_referent(ref: object) -> object:
    """The object a weak reference or proxy refers to, or None once it is gone. Runs no Python code."""

def is_class_statement_type(cls: object) -> bool:
    """Whether cls was made by a class statement (type.__new__), not by an extension module."""

def asyncio_task_lists(asyncio_module: object) -> tuple[list[Any], list[tuple[Any, Any]]]:
    """CPython 3.14+: (every task on the C task lists of this interpreter and its threads, [(running loop, running
    task) of each thread]) of the _asyncio module given. ValueError when its debug offsets cannot be used."""

class DumpWriter:
    """One dump being written to a temporary file: write_header, walk, add_source, then commit (or abort)."""

    def __init__(self, path: str, zlib_level: int = 1) -> None: ...
    def write_header(self, json: str, /) -> None: ...
    def walk(
        self,
        root: object,
        limits: dict[str, int | float],
        policy: _Policy,
        redactor: _Redactor | None = None,
        redact_every_string: bool = False,
        redact_literals: Sequence[str | bytes] = [],
        heap: bool = False,
    ) -> dict[str, Any]:
        """Walks everything reachable from root; returns the statistics (objects, errors, cut, types, largest,
        filenames, elapsed, first_unwritten, unwritten, raw_bytes)."""
    def add_source(self, filename: str, text: str, /) -> None: ...
    def commit(self, summary_json: str, /) -> int:
        """Writes the summary and the footer, renames the file into place; returns the file's size."""
    def abort(self) -> None:
        """Removes the temporary file."""
    @property
    def records_written(self) -> int: ...

class SecretFilter:
    """The walker's pre-filter of texts that may hold a secret (the default patterns, or one of the literals)."""

    def __init__(self, literals: Sequence[str | bytes]) -> None: ...
    def may_hold_secret(self, value: str | bytes) -> bool: ...

class DumpReader:
    """A dump file opened for reading, the chunks' declared raw sizes bounded by max_total_raw in all (the loader's
    pyheapdump.load.dumpfile.open_dump_file passes its MAX_TOTAL_RAW)."""

    def __init__(self, path: str, max_total_raw: int) -> None: ...
    def header_json(self) -> str: ...
    def summary_json(self) -> str: ...
    def records(self) -> list[_RecordTuple]: ...
    def sources(self) -> list[tuple[str, str]]: ...
    @property
    def warnings(self) -> list[str]: ...
    @property
    def version(self) -> tuple[int, int]: ...
    @property
    def file_size(self) -> int: ...

class Rebuilder:
    """The loader's core: holds the reader's records and makes their objects, asking the handler (the Python
    loader's Rebuilder) for everything that needs policy; problems is the list both append one-line problems to;
    first_unwritten is the summary's (ids from it on without a record were cut by a walk-wide stop; 0: none);
    expected_records, the summary's object count, sizes the record store up front (0: unknown)."""

    def __init__(self, reader: DumpReader, handler: Any, problems: list[str], first_unwritten: int = 0,
                 expected_records: int = 0) -> None: ...
    def get(self, oid: int, /) -> Any: ...
    def record(self, oid: int, /) -> _RecordTuple | None: ...
    def complete(self, raw: _T, /) -> _T:
        """Finishes what the object of record `raw` (an id; anything else is returned as it is) needs before use."""
    def fill_now(self, raw: _T, /) -> _T:
        """Fills the object of record `raw` itself (and a tuple's parts), not what it holds; returns raw."""
    def defer(self, oid: int, fill: Callable[[], object], hashing: bool = False) -> None: ...
    def drain(self, hashing: bool) -> None: ...
    def finish_new_fills(self) -> None: ...
    @property
    def nesting(self) -> int: ...
    def __len__(self) -> int: ...
    def close(self) -> None: ...

def read_every_record(path: str) -> int:
    """Reads every record and drops it (the benchmark's floor for the analysis); the record count."""

# (id, type, shallow bytes, retained bytes) of one object of an analysis.
_AnalysisRow = tuple[int, str, int, int]

class Analysis:
    """The heap analysis of one dump (native/analysis.h): the reference graph, dominators, retained sizes and
    shortest paths from the roots, read from the records without making any object."""

    def __init__(self, path: str, root_id: int = 1, expected_objects: int = 0, unreached_id: int = 0) -> None: ...
    def summary(self) -> dict[str, Any]: ...
    def top(self, n: int) -> list[_AnalysisRow]: ...
    def top_types(self, n: int) -> list[tuple[str, int, int, int]]:
        """(type, count, shallow, retained), largest retained first."""
    def object(self, id: int) -> _AnalysisRow | None: ...
    def dominator(self, id: int) -> int | None: ...
    def dominated(self, id: int, n: int = 0) -> list[_AnalysisRow]: ...
    def dominated_count(self, id: int) -> int:
        """How many objects the dominator tree has directly below id (0: below the roots)."""
    def instances(self, type: str, n: int = 0) -> list[int]: ...
    def paths(self, ids: Sequence[int]) -> list[list[tuple[int | None, str, str]]]:
        """Per id, the shortest path from the roots: (id or None for a root step, type, how it is reached)."""
    def references(self, id: int, n: int = 0) -> list[tuple[str, int, str, int, int]]: ...
    def roots(self) -> list[tuple[str, str, int, str, int, int]]: ...
    @property
    def warnings(self) -> list[str]: ...
