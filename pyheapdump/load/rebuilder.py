"""The handler the native rebuilder calls: the Python half of turning a dump's records into objects."""

from __future__ import annotations

import pyheapdump._native as _native
from pyheapdump.load.assemble import Assembly
from pyheapdump.load.records import RecordView

# No typing at run time: the load benchmark and every debugger session pay for what the loader imports.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Rebuilder(Assembly):
    """Turns a dump's records into objects. Immutable objects are built once their parts exist; mutable ones are
    created empty first and filled afterwards, so cycles and shared references come back as they were.

    The order of that work, and the bulk kinds (str, bytes, plain lists, tuples, dicts, sets, instances of surrogate
    classes, reduces of safe value types), live in the native core (native/rebuilder.h); it calls back here, through
    the methods of the RebuildHandler protocol (handler.py), for everything that needs policy. The core holds the
    objects made so far (`get`); both sides add to `problems`.
    """

    def __init__(self, reader: Any, *, trusted: bool, metadata: dict[str, Any]) -> None:
        super().__init__(reader, trusted=trusted, metadata=metadata)
        self.core = _native.Rebuilder(reader, self, self.problems, _count(metadata.get("first_unwritten")),
                                      _count(metadata.get("objects")))
        self.records = RecordView(self.core)

    def make(self, oid: int, shell: bool) -> Any:
        """For the core: makes the object of one record the general way (an empty shell when `shell`)."""
        record = self.records.get(oid)
        if record is None:
            return self.lost(oid, f"record {oid} does not decode")
        return self._guarded(record, self._shell if shell else self._construct)



def _count(value: Any) -> int:
    """A summary's id or count as the core takes it; 0, which the core reads as "none" or "unknown", when damaged."""
    return value if type(value) is int and 0 <= value < 1 << 64 else 0
