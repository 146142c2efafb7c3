"""Caps on how many dumps a process writes: per process and per sliding window, thread-safe; the process-wide
budget shared by install() and dump_on_error()."""

from __future__ import annotations

import collections
import sys
import threading
import time
import weakref

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_WARNING, _INFO = 30, 20  # logging.WARNING and logging.INFO, without importing logging


class _ProgramsLogging:
    """The "pyheapdump" logger of the program's logging, without importing logging into a program that does not use it
    (it costs a service every hook is installed in over 2 MB): there, as unconfigured logging would, warnings are
    printed on stderr and info is dropped. Checked at each message, so a program that sets up logging later gets
    them."""

    def warning(self, message: str, *args: Any) -> None:
        self._log(_WARNING, message, args)

    def info(self, message: str, *args: Any) -> None:
        self._log(_INFO, message, args)

    @staticmethod
    def _log(level: int, message: str, args: tuple[Any, ...]) -> None:
        logging = sys.modules.get("logging")
        if logging is not None:
            logging.getLogger("pyheapdump").log(level, message, *args)
        elif level >= _WARNING and sys.stderr is not None:
            try:
                sys.stderr.write((message % args) + "\n")
            except (OSError, ValueError):  # a closed or broken stderr: as logging's last resort, nothing to do
                pass


LOGGER = _ProgramsLogging()

DEFAULT_MAX_DUMPS = 10
DEFAULT_MAX_PER_WINDOW = 3
DEFAULT_PER_SECONDS = 300.0

_BUDGETS: weakref.WeakSet[DumpBudget] = weakref.WeakSet()


# --- caps ------------------------------------------------------------------------------------------------------------


class DumpBudget:
    """How many dumps may still be written: a per-process cap and a sliding-window cap. Thread-safe.

    An RLock, not a Lock: a signal handler runs on the main thread between two bytecodes, possibly while the main
    thread is inside `try_spend`; the section is a few lines, so re-entering it costs at most one miscount.
    """

    def __init__(
        self,
        max_dumps: int | None = DEFAULT_MAX_DUMPS,
        max_per_window: int | None = DEFAULT_MAX_PER_WINDOW,
        per_seconds: float = DEFAULT_PER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._recent: collections.deque[float] = collections.deque()
        self.spent = 0
        self.refused = 0
        self.configure(max_dumps, max_per_window, per_seconds)
        _BUDGETS.add(self)

    def _start_over_in_child(self) -> None:
        # A forked child is a new process: its own per-process count, and a lock no other thread may be holding.
        self._lock = threading.RLock()
        self._recent.clear()
        self.spent = 0
        self.refused = 0

    def configure(self, max_dumps: int | None, max_per_window: int | None, per_seconds: float) -> None:
        _check_caps(max_dumps, max_per_window, per_seconds)
        with self._lock:
            self.max_dumps = max_dumps
            self.max_per_window = max_per_window
            self.per_seconds = float(per_seconds)

    def try_spend(self) -> str | None:
        """Take one dump from the budget: None when allowed, else why not (for the log line)."""
        with self._lock:
            now = self._clock()
            while self._recent and now - self._recent[0] >= self.per_seconds:
                self._recent.popleft()
            if self.max_dumps is not None and self.spent >= self.max_dumps:
                self.refused += 1
                return f"the cap of {self.max_dumps} dumps per process is reached"
            if self.max_per_window is not None and len(self._recent) >= self.max_per_window:
                self.refused += 1
                return f"the cap of {self.max_per_window} dumps per {self.per_seconds:g} s is reached"
            self.spent += 1
            self._recent.append(now)
            return None


def _check_cap(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise ValueError(f"{name} must be a number of dumps (an int >= 0) or None for no cap, not {value!r}")


def _check_caps(max_dumps: int | None, max_per_window: int | None, per_seconds: float) -> None:
    _check_cap("max_dumps", max_dumps)
    _check_cap("max_per_window", max_per_window)
    if not per_seconds > 0:
        raise ValueError(f"per_seconds must be a positive number of seconds, not {per_seconds!r}")


_GLOBAL_BUDGET = DumpBudget()


def global_budget() -> DumpBudget:
    """The process-wide caps shared by install() and dump_on_error()."""
    return _GLOBAL_BUDGET
