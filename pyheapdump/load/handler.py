"""The contract between the native rebuilder (native/rebuilder.cc) and Python: the methods the C++ core calls, by
name, on the handler object given to `_native.Rebuilder(reader, handler, problems)`.

The core does the order of the work and the bulk kinds itself (str, bytes, plain containers, instances of plain
surrogate classes, reduces of safe value types); it asks the handler for everything that needs policy. The handler
reaches back through the core's `get`, `complete`, `defer`, `drain` and `finish_new_fills`, and both add to the
shared `problems` list. `pyheapdump.load.rebuilder.Rebuilder` is the one implementation.
"""

from __future__ import annotations

from typing import Any, Protocol


class RebuildHandler(Protocol):
    """What the native rebuilder asks of Python. Every method may be called while another is running (a type's
    record needs the records of its bases); an exception from one fails only the object being made, except
    MemoryError, which fails the load."""

    def make(self, oid: int, shell: bool) -> Any:
        """The object of record `oid`, made the general way. With `shell`, a kind that is made empty and filled later
        (containers, instances, frames, ...): return it empty and `defer` its filling."""

    def plain_surrogate_class(self, type_id: int) -> type | None:
        """The surrogate class whose instances (of class record `type_id`) need nothing but their state, so the core
        makes them itself; None for the general path. Asked once per class."""

    def fast_reduce_callable(self, callable_id: int) -> Any:
        """The callable of a reduce (record `callable_id`) that this load may call with finished value arguments
        (str, bytes, numbers) and nothing else to apply, so the core calls it itself; None for the general path.
        Asked once per callable."""

    def cut_class(self, reason: int, class_id: int) -> type:
        """The class of placeholders of values of class record `class_id` that a limit (`reason`, a cut reason of
        docs/format.md) left out. Asked once per pair; the core makes each placeholder as an empty instance."""

    def cut_container_class(self, kind: int) -> type:
        """The class of a plain container (record kind `kind`) whose record holds values a limit left out."""

    def cut(self, reason: int, class_id: int) -> Any:
        """One placeholder of a value a limit left out, when `cut_class` gave no class."""

    def lost(self, oid: int, why: str | None = None) -> Any:
        """A placeholder for record `oid`, which is not in the file (a damaged chunk, or a walk a limit stopped)."""

    def made_of_itself(self, oid: int) -> Any:
        """A placeholder for record `oid`, whose making needs itself (a damaged or forged type reference)."""
