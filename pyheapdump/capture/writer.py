"""Writing one dump for a hook: one at a time, never twice for one exception, within the caps; and the options
the capture front ends share.

Imported with the package, by every process that installs the hooks: no dataclasses, inspect, pathlib or typing
here (paths are str, as save_dump returns them).
"""

from __future__ import annotations

import collections
import os
import sys
import threading

from pyheapdump._valueclass import FrozenValueClass
from pyheapdump.capture.caps import (
    _BUDGETS,
    DEFAULT_MAX_DUMPS,
    DEFAULT_MAX_PER_WINDOW,
    DEFAULT_PER_SECONDS,
    LOGGER,
    DumpBudget,
    _check_caps,
)
from pyheapdump.capture.retention import _check_pruning, prune_dumps
from pyheapdump.dump.save import DEFAULT_LIMITS, parent_directory, path_text, save_dump
from pyheapdump.errors import DumpInProgressError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    import types
    from typing import Any, Literal

ENV_DIRECTORY = "PYHEAPDUMP_DIR"

_REMEMBERED_EXCEPTIONS = 4
# How long a failing thread waits for another thread's dump before giving up on its own.
_DUMP_LOCK_TIMEOUT = 300.0


class _DumpState(threading.local):
    busy = False


_STATE = _DumpState()
_DUMP_LOCK = threading.Lock()


def _after_fork_in_child() -> None:
    """A thread of the parent may have been dumping when it forked: that lock and state must not carry over."""
    global _DUMP_LOCK
    _DUMP_LOCK = threading.Lock()
    _STATE.busy = False
    for budget in list(_BUDGETS):
        budget._start_over_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

_REMEMBERED: collections.deque[tuple[BaseException, str]] = collections.deque(maxlen=_REMEMBERED_EXCEPTIONS)
# save_dump's arguments that the hooks set themselves, per dump.
_SET_PER_DUMP = frozenset({"path", "exc", "frame", "threads", "description", "directory", "reason"})


def check_save_options(options: dict[str, Any]) -> None:
    """Refuse, when a hook is set up rather than at its first dump, options save_dump would not take."""
    known = (_keyword_only_parameters(save_dump.__code__) - _SET_PER_DUMP) | set(DEFAULT_LIMITS)
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown dump options {unknown}: save_dump takes {sorted(known)}")


def _keyword_only_parameters(code: types.CodeType) -> set[str]:
    """The names of a function's keyword-only parameters, read from its code object as inspect.signature does."""
    return set(code.co_varnames[code.co_argcount:code.co_argcount + code.co_kwonlyargcount])


def parse_limit(text: str) -> tuple[str, Any]:
    """`NAME=VALUE` -> (name, int, float or str value), for the `--heapdump-limit` and `run --limit` options."""
    name, sep, raw = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name.isidentifier():
        raise ValueError(f"a limit is NAME=VALUE (e.g. max_objects=100000), not {text!r}")
    raw = raw.strip()
    value: Any
    for convert in (int, float):
        try:
            value = convert(raw)
            break
        except ValueError:
            continue
    else:
        value = None if raw.lower() == "none" else raw
    return name, value


class DumpWriter:
    """Writes dumps for one hook family with one configuration: directory, limits, caps, directory pruning."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        threads: bool = True,
        keep: int | None = None,
        keep_bytes: int | None = None,
        budget: DumpBudget | None = None,
        limits: dict[str, Any] | None = None,
    ) -> None:
        _check_pruning(keep, keep_bytes)
        check_save_options(dict(limits or {}))
        self.directory = resolve_directory(directory)
        self.threads = threads
        self.keep = keep
        self.keep_bytes = keep_bytes
        self.budget = budget
        self.limits = dict(limits or {})
        self._refusal_logged = False

    def write(
        self,
        *,
        reason: str,
        exc: BaseException | None | Literal[False] = None,
        frame: types.FrameType | None = None,
        description: str | None = None,
        path: str | os.PathLike[str] | None = None,
        threads: bool | None = None,
        directory: str | os.PathLike[str] | None = None,
        limits: dict[str, Any] | None = None,
    ) -> str | None:
        """Write one dump and return its path, as save_dump does; None when it was skipped (cap reached, already
        dumped, a dump already running here). `directory` replaces the writer's own for this dump, and `limits`
        (save_dump's options: `heap` too) are laid over its own (a request of `pyheapdump dump PID`).

        Raises what `save_dump` raises when the dump itself fails.
        """
        if _STATE.busy:
            return None
        if isinstance(exc, BaseException) and _already_dumped(exc) is not None:
            return None
        # The caps stop a storm of failures from filling the disk; a signal is an operator asking for this dump, so
        # it is always honoured (and still counted, so failures after it see the window as it is).
        if self.budget is not None:
            if reason == "signal":
                self._spend_for_operator()
            elif not self._spend():
                return None
        if not _DUMP_LOCK.acquire(timeout=_DUMP_LOCK_TIMEOUT):
            raise DumpInProgressError(
                f"another thread's dump did not finish within {_DUMP_LOCK_TIMEOUT:g} s; this one was skipped"
            )
        _STATE.busy = True
        try:
            written = self._save(
                reason=reason,
                exc=exc,
                frame=frame,
                description=description,
                path=path,
                threads=self.threads if threads is None else threads,
                directory=self.directory if directory is None else directory,
                limits=self.limits if limits is None else {**self.limits, **limits},
            )
            if exc is not None:
                _REMEMBERED.append((exc, written))  # type: ignore[arg-type]  # False too, as before
            LOGGER.warning("heap dump written to %s (%s)", written, reason)
            self._prune(written)
            return written
        finally:
            _STATE.busy = False
            _DUMP_LOCK.release()

    def _spend_for_operator(self) -> None:
        assert self.budget is not None
        refusal = self.budget.try_spend()
        if refusal is not None:
            LOGGER.warning("heap dump asked by signal: written although %s", refusal)

    def _spend(self) -> bool:
        assert self.budget is not None
        refusal = self.budget.try_spend()
        if refusal is None:
            self._refusal_logged = False
            return True
        if not self._refusal_logged:
            self._refusal_logged = True
            LOGGER.warning("heap dump skipped: %s; later ones are skipped silently", refusal)
        return False

    def _save(
        self,
        *,
        reason: str,
        exc: BaseException | None | Literal[False],
        frame: types.FrameType | None,
        description: str | None,
        path: str | os.PathLike[str] | None,
        threads: bool,
        directory: str | os.PathLike[str] | None,
        limits: dict[str, Any],
    ) -> str:
        if path is not None:
            directory = None
            path = path_text(path)
            os.makedirs(parent_directory(path), exist_ok=True)
        elif directory is not None:
            os.makedirs(directory, exist_ok=True)
        return save_dump(
            path,
            exc=exc,
            frame=frame,
            threads=threads,
            description=description,
            directory=directory,
            reason=reason,
            **limits,
        )

    def _prune(self, written: str) -> None:
        if self.keep is None and self.keep_bytes is None:
            return
        directory = parent_directory(written)
        try:
            deleted = prune_dumps(directory, keep=self.keep, keep_bytes=self.keep_bytes, protect=written)
        except OSError as error:
            LOGGER.warning("could not prune old heap dumps in %s: %s", directory, error)
            return
        for path in deleted:
            LOGGER.info("deleted old heap dump %s (directory cap)", path)


class CaptureOptions(FrozenValueClass):
    """The options the capture front ends take beside their directory (install(), HeapDumpHandler, dump_on_error):
    caps, directory pruning, which threads, save_dump's limits (a new empty dict by default). All are checked when
    it is made, so a front end refuses a bad value before it changes anything (install() keeps the running hooks and
    caps). Frozen."""

    __slots__ = ("max_dumps", "max_per_window", "per_seconds", "keep", "keep_bytes", "threads", "limits")
    max_dumps: int | None
    max_per_window: int | None
    per_seconds: float
    keep: int | None
    keep_bytes: int | None
    threads: bool
    limits: dict[str, Any]

    def __init__(
        self,
        max_dumps: int | None = DEFAULT_MAX_DUMPS,
        max_per_window: int | None = DEFAULT_MAX_PER_WINDOW,
        per_seconds: float = DEFAULT_PER_SECONDS,
        keep: int | None = None,
        keep_bytes: int | None = None,
        threads: bool = True,
        limits: dict[str, Any] | None = None,
    ) -> None:
        limits = {} if limits is None else limits
        _check_caps(max_dumps, max_per_window, per_seconds)
        _check_pruning(keep, keep_bytes)
        check_save_options(limits)
        self._set_fields(max_dumps, max_per_window, per_seconds, keep, keep_bytes, threads, limits)

    def new_budget(self) -> DumpBudget:
        """A budget of its own with these caps (a HeapDumpHandler's)."""
        return DumpBudget(self.max_dumps, self.max_per_window, self.per_seconds)

    def apply_caps(self, budget: DumpBudget) -> None:
        """Give a shared budget these caps (install() and the process-wide budget); what it spent counts on."""
        budget.configure(self.max_dumps, self.max_per_window, self.per_seconds)

    def writer(self, directory: str | os.PathLike[str] | None, budget: DumpBudget) -> DumpWriter:
        return DumpWriter(directory, threads=self.threads, keep=self.keep, keep_bytes=self.keep_bytes, budget=budget,
                          limits=self.limits)


def resolve_directory(directory: str | os.PathLike[str] | None) -> str | None:
    """The directory given, else $PYHEAPDUMP_DIR, else None (the engine's default); made absolute now."""
    if directory is None:
        directory = os.environ.get(ENV_DIRECTORY) or None
    if directory is None:
        return None
    return os.path.abspath(os.path.expanduser(path_text(directory)))


def _already_dumped(exc: BaseException) -> str | None:
    for remembered, path in list(_REMEMBERED):
        if remembered is exc:
            return path
    return None


def write_quietly(writer: DumpWriter, **request: Any) -> str | None:
    """`writer.write(...)` for hooks: a failure prints one line to stderr and never raises."""
    try:
        return writer.write(**request)
    except Exception as error:
        _complain(request.get("reason", "?"), error)
        return None


def _complain(reason: str, error: BaseException) -> None:
    try:
        print(f"pyheapdump: no heap dump for {reason}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
    except Exception:
        pass  # stderr is gone: nothing left to tell
