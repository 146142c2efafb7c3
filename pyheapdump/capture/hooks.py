"""Dumps where a program fails: uncaught exceptions, dying threads, asyncio, signals, worker processes.

`install()` puts `save_dump` behind every door a Python program fails through; `uninstall()` takes it away again.
Installing chains onto what is there (the previous hook still runs, so the usual report is printed) and every
patch is undone by `uninstall()`, unless some other code has since wrapped our hook, in which case ours stays in
place but only forwards.

What `install()` hooks:

- `sys.excepthook`: an uncaught exception writes a dump, then the previous hook prints the traceback as before.
- `threading.excepthook`: an exception that ends a thread writes a dump (that thread's failing stack, every other
  thread too), then the previous hook prints it.
- asyncio: `asyncio.BaseEventLoop.call_exception_handler`, the one place every loop derived from asyncio's reports
  a task's never-retrieved exception and a failing callback. A report that carries an exception writes a dump,
  then the loop's own handler runs. This needs no event loop policy or loop factory; loops that do not derive from
  `BaseEventLoop` (uvloop) are not covered.
- multiprocessing and concurrent.futures workers: a `multiprocessing.Process` whose `run()` raises, and a task of a
  `multiprocessing.Pool` or `ProcessPoolExecutor` worker that raises, write a dump in the worker at the failure (these
  exceptions never reach `sys.excepthook`: the worker catches them to print or to send them to the parent).
- `signal=signal.SIGUSR1` (or any other): on that signal the live process writes a dump of every thread, with the
  main thread's interrupted frame as the dump's frame, and goes on running. Only the main thread can set a
  signal handler, so `install(signal=...)` from another thread raises DumpError. A Python-level handler runs when
  the main thread next executes bytecode; a main thread blocked inside C code that never returns to the
  interpreter cannot take it.

asyncio, multiprocessing and concurrent.futures are patched when they are first imported, not imported by
`install()`: a tiny finder in `sys.meta_path` watches for those module names and patches them right after they
load, so programs that never use them pay nothing.

Production safety:

- A dump is never written twice for one exception object (dump_on_error re-raising into the excepthook, a logged
  exception re-raised, ...). To know, the last few dumped exceptions are remembered (a strong reference to at most
  `_REMEMBERED_EXCEPTIONS` of them).
- Caps: at most `max_dumps` dumps per process (default 10) and at most `max_per_window` in any `per_seconds`
  seconds (default 3 in 300 s); `None` lifts a cap. A dump that a cap refuses is logged once at WARNING on the
  `pyheapdump` logger, and not again until a dump has been written. Every attempt counts, failed ones too, so a
  dump that keeps failing cannot spin.
- Directory caps: after each dump, `keep` (a number of files) and `keep_bytes` (total bytes) prune the oldest
  dumps in the directory the dump went to. Only files named `*.heapdump` are considered (never hidden files, never
  anything else), and the dump just written is never deleted.
- Each dump's path is logged at WARNING on the `pyheapdump` logger. With no logging configured, Python's last
  resort handler prints that line to stderr.
- A hook never hides the failure it reports: when the dump itself fails, one line goes to stderr
  (`pyheapdump: no heap dump for <reason>: <error>`) and the original report goes on. Dumps requested from inside
  a dump on the same thread (a signal arriving mid-dump) are skipped.
- Dumps are written one at a time; a thread that fails while another thread is dumping waits for it.
- A child made by `os.fork()` is a process of its own: its caps count from zero, and the dump lock starts free
  even if another thread of the parent was dumping at the moment of the fork.

Where dumps go: the `directory` given, else `$PYHEAPDUMP_DIR`, else the engine's default (the current directory),
named `<program>-<pid>-<UTC time>.heapdump` by the engine.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import importlib.abc
import importlib.machinery
import inspect
import logging
import os
import re
import signal as signal_module
import sys
import threading
import time
import types
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

from pyheapdump.errors import DumpError, DumpInProgressError

__all__ = [
    "CaptureOptions",
    "DEFAULT_MAX_DUMPS",
    "DEFAULT_MAX_PER_WINDOW",
    "DEFAULT_PER_SECONDS",
    "DumpBudget",
    "DumpWriter",
    "dump_on_error",
    "install",
    "installed",
    "prune_dumps",
    "test_dump_path",
    "uninstall",
]

LOGGER = logging.getLogger("pyheapdump")

DEFAULT_MAX_DUMPS = 10
DEFAULT_MAX_PER_WINDOW = 3
DEFAULT_PER_SECONDS = 300.0
DUMP_SUFFIX = ".heapdump"
ENV_DIRECTORY = "PYHEAPDUMP_DIR"

_REMEMBERED_EXCEPTIONS = 4
# How long a failing thread waits for another thread's dump before giving up on its own.
_DUMP_LOCK_TIMEOUT = 300.0
# Longest test-name stem before it is shortened and given a hash of the full id.
_MAX_STEM = 150

F = TypeVar("F", bound=Callable[..., Any])

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


def _check_pruning(keep: int | None, keep_bytes: int | None) -> None:
    _check_cap("keep", keep)
    if keep_bytes is not None and (not isinstance(keep_bytes, int) or keep_bytes < 0):
        raise ValueError(f"keep_bytes must be a number of bytes (an int >= 0) or None, not {keep_bytes!r}")


def prune_dumps(
    directory: str | os.PathLike[str], *, keep: int | None, keep_bytes: int | None, protect: Path | None = None
) -> list[Path]:
    """Delete the oldest `*.heapdump` files of `directory` until at most `keep` files and `keep_bytes` bytes remain.

    `protect` (the dump just written) is never deleted. Files that vanish meanwhile (another process pruning the
    same directory) are skipped. Returns the deleted paths.
    """
    if keep is None and keep_bytes is None:
        return []
    dumps = _dumps_newest_first(Path(directory))
    kept_count = 0
    kept_bytes = 0
    deleted = []
    for path, size in dumps:
        is_protected = protect is not None and _same_file(path, protect)
        within = (keep is None or kept_count < keep) and (keep_bytes is None or kept_bytes + size <= keep_bytes)
        if within or is_protected:
            kept_count += 1
            kept_bytes += size
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        deleted.append(path)
    return deleted


def _dumps_newest_first(directory: Path) -> list[tuple[Path, int]]:
    found = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.name.startswith(".") or not entry.name.endswith(DUMP_SUFFIX):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            stat = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        found.append((stat.st_mtime_ns, entry.name, Path(entry.path), stat.st_size))
    found.sort(reverse=True)
    return [(path, size) for _, _, path, size in found]


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# --- names for test dumps ---------------------------------------------------------------------------------------


_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")


def sanitize_stem(text: str) -> str:
    """A file-name stem for a test id: runs of characters outside [A-Za-z0-9._-] become one "_".

    Long ids are cut and given 10 hex digits of their SHA-1, so distinct ids stay distinct.
    """
    stem = _UNSAFE_RUN.sub("_", text).strip("._") or "dump"
    if len(stem) > _MAX_STEM:
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        stem = f"{stem[: _MAX_STEM - 11]}-{digest}"
    return stem


def test_dump_path(directory: str | os.PathLike[str], test_id: str, used: set[str]) -> Path:
    """Where the dump of test `test_id` goes: `<sanitized id>.heapdump`, `-2`, `-3`, ... when the same run needs more.

    `used` holds the names given out during this run: a dump left by an earlier run under the same name is replaced,
    a second failure of the same test in this run (reruns, subtests) gets its own file.
    """
    stem = sanitize_stem(test_id)
    name = f"{stem}{DUMP_SUFFIX}"
    counter = 1
    while name in used:
        counter += 1
        name = f"{stem}-{counter}{DUMP_SUFFIX}"
    used.add(name)
    return Path(directory) / name


test_dump_path.__test__ = False  # type: ignore[attr-defined]  # a helper, not a pytest test


# --- writing one dump ------------------------------------------------------------------------------------------------


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

_REMEMBERED: collections.deque[tuple[BaseException, Path]] = collections.deque(maxlen=_REMEMBERED_EXCEPTIONS)
# save_dump's arguments that the hooks set themselves, per dump.
_SET_PER_DUMP = frozenset({"path", "exc", "frame", "threads", "description", "directory", "reason"})


def check_save_options(options: dict[str, Any]) -> None:
    """Refuse, when a hook is set up rather than at its first dump, options save_dump would not take."""
    import pyheapdump
    from pyheapdump.dump.save import DEFAULT_LIMITS

    parameters = inspect.signature(pyheapdump.save_dump).parameters
    keyword_options = {name for name, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    known = (keyword_options - _SET_PER_DUMP) | set(DEFAULT_LIMITS)
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown dump options {unknown}: save_dump takes {sorted(known)}")


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
        path: Path | None = None,
        threads: bool | None = None,
    ) -> Path | None:
        """Write one dump; None when it was skipped (cap reached, already dumped, a dump already running here).

        Raises what `save_dump` raises when the dump itself fails.
        """
        if _STATE.busy:
            return None
        if isinstance(exc, BaseException) and _already_dumped(exc) is not None:
            return None
        # The caps stop a storm of failures from filling the disk; a signal is an operator asking for this dump, so
        # it is always honoured (and still counted, so failures after it see the window as it is).
        if self.budget is not None and not self._spend() and reason != "signal":
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
            )
            if exc is not None:
                _REMEMBERED.append((exc, written))
            LOGGER.warning("heap dump written to %s (%s)", written, reason)
            self._prune(written)
            return written
        finally:
            _STATE.busy = False
            _DUMP_LOCK.release()

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
        path: Path | None,
        threads: bool,
    ) -> Path:
        import pyheapdump  # the package imports this module: look the engine up at call time

        directory = None
        if path is None and self.directory is not None:
            directory = self.directory
            os.makedirs(directory, exist_ok=True)
        elif path is not None:
            os.makedirs(path.parent, exist_ok=True)
        written = pyheapdump.save_dump(
            path,
            exc=exc,
            frame=frame,
            threads=threads,
            description=description,
            directory=directory,
            reason=reason,
            **self.limits,
        )
        return Path(written)

    def _prune(self, written: Path) -> None:
        if self.keep is None and self.keep_bytes is None:
            return
        try:
            deleted = prune_dumps(written.parent, keep=self.keep, keep_bytes=self.keep_bytes, protect=written)
        except OSError as error:
            LOGGER.warning("could not prune old heap dumps in %s: %s", written.parent, error)
            return
        for path in deleted:
            LOGGER.info("deleted old heap dump %s (directory cap)", path)


@dataclasses.dataclass(frozen=True)
class CaptureOptions:
    """The options the capture front ends take beside their directory (install(), HeapDumpHandler, dump_on_error):
    caps, directory pruning, which threads, save_dump's limits. All are checked when it is made, so a front end
    refuses a bad value before it changes anything (install() keeps the running hooks and caps)."""

    max_dumps: int | None = DEFAULT_MAX_DUMPS
    max_per_window: int | None = DEFAULT_MAX_PER_WINDOW
    per_seconds: float = DEFAULT_PER_SECONDS
    keep: int | None = None
    keep_bytes: int | None = None
    threads: bool = True
    limits: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_caps(self.max_dumps, self.max_per_window, self.per_seconds)
        _check_pruning(self.keep, self.keep_bytes)
        check_save_options(self.limits)

    def new_budget(self) -> DumpBudget:
        """A budget of its own with these caps (a HeapDumpHandler's)."""
        return DumpBudget(self.max_dumps, self.max_per_window, self.per_seconds)

    def apply_caps(self, budget: DumpBudget) -> None:
        """Give a shared budget these caps (install() and the process-wide budget); what it spent counts on."""
        budget.configure(self.max_dumps, self.max_per_window, self.per_seconds)

    def writer(self, directory: str | os.PathLike[str] | None, budget: DumpBudget) -> DumpWriter:
        return DumpWriter(directory, threads=self.threads, keep=self.keep, keep_bytes=self.keep_bytes, budget=budget,
                          limits=self.limits)


def resolve_directory(directory: str | os.PathLike[str] | None) -> Path | None:
    """The directory given, else $PYHEAPDUMP_DIR, else None (the engine's default); made absolute now."""
    if directory is None:
        directory = os.environ.get(ENV_DIRECTORY) or None
    if directory is None:
        return None
    return Path(directory).expanduser().absolute()


def _already_dumped(exc: BaseException) -> Path | None:
    for remembered, path in list(_REMEMBERED):
        if remembered is exc:
            return path
    return None


def write_quietly(writer: DumpWriter, **request: Any) -> Path | None:
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


# --- the installation ------------------------------------------------------------------------------------------------

_GLOBAL_BUDGET = DumpBudget()


class _Patch:
    """One attribute replaced by a hook; restored on uninstall if nobody replaced it after us."""

    def __init__(self, owner: Any, name: str, replacement: Any) -> None:
        self.owner = owner
        self.name = name
        self.defined_here = name in vars(owner)
        self.original = getattr(owner, name)
        self.replacement = replacement
        setattr(owner, name, replacement)

    def restore(self) -> None:
        if vars(self.owner).get(self.name) is not self.replacement:
            return  # someone wrapped ours: leave theirs; ours only forwards once inactive
        if self.defined_here:
            setattr(self.owner, self.name, self.original)
        else:
            delattr(self.owner, self.name)


class _Installation:
    def __init__(self, writer: DumpWriter, exclude: tuple[type[BaseException], ...]) -> None:
        self.writer = writer
        self.exclude = exclude
        self.active = True
        self.patches: list[_Patch] = []
        self.signal_number: int | None = None
        self.signal_handler: Callable[..., Any] | None = None
        self.previous_signal_handler: Any = None
        self.lock = threading.Lock()

    def wants(self, exc: BaseException | None) -> bool:
        return self.active and isinstance(exc, BaseException) and not isinstance(exc, self.exclude)

    def dump_exception(self, exc: BaseException, reason: str, description: str | None = None) -> None:
        if self.wants(exc):
            write_quietly(self.writer, reason=reason, exc=exc, description=description)

    def patch(self, owner: Any, name: str, make_replacement: Callable[[Any], Any]) -> None:
        with self.lock:
            if not self.active:
                return
            original = getattr(owner, name)
            self.patches.append(_Patch(owner, name, make_replacement(original)))


_INSTALLATION: _Installation | None = None
_INSTALL_LOCK = threading.RLock()


def install(
    directory: str | os.PathLike[str] | None = None,
    *,
    exclude: tuple[type[BaseException], ...] = (KeyboardInterrupt, SystemExit),
    signal: int | None = None,
    max_dumps: int | None = DEFAULT_MAX_DUMPS,
    max_per_window: int | None = DEFAULT_MAX_PER_WINDOW,
    per_seconds: float = DEFAULT_PER_SECONDS,
    keep: int | None = None,
    keep_bytes: int | None = None,
    threads: bool = True,
    **limits: Any,
) -> None:
    """Write a heap dump wherever this process fails (see the module docstring for every hook and cap).

    `directory`: where dumps go (default `$PYHEAPDUMP_DIR`, else the engine's default). `exclude`: exception types
    that never dump. `signal`: a signal number that dumps the live process. `max_dumps`, `max_per_window` and
    `per_seconds`: the caps (None lifts one). `keep`, `keep_bytes`: prune the oldest dumps of the directory.
    `threads`: dump every thread (True) or only the failing one. `limits`: passed to `save_dump` (max_objects, ...).
    Calling it again replaces the previous installation; the caps count on across installations.
    """
    exclude = _check_exclude(exclude)
    if signal is not None:
        _check_signal_allowed(signal)
    options = CaptureOptions(max_dumps, max_per_window, per_seconds, keep, keep_bytes, threads, limits)
    writer = options.writer(directory, _GLOBAL_BUDGET)
    with _INSTALL_LOCK:
        uninstall()
        options.apply_caps(_GLOBAL_BUDGET)
        installation = _Installation(writer, exclude)
        _install_excepthooks(installation)
        if signal is not None:
            _install_signal(installation, signal)
        _watch_lazy_modules(installation)
        global _INSTALLATION
        _INSTALLATION = installation


def uninstall() -> None:
    """Undo `install()`: every hook and patch it put in place is restored (or, when wrapped since, made inert)."""
    global _INSTALLATION
    with _INSTALL_LOCK:
        installation = _INSTALLATION
        _INSTALLATION = None
        if installation is None:
            return
        with installation.lock:
            installation.active = False
        _WATCHER.forget(installation)
        for patch in reversed(installation.patches):
            patch.restore()
        _restore_signal(installation)


def installed() -> bool:
    """Whether `install()` is in force in this process."""
    return _INSTALLATION is not None


def _check_exclude(exclude: Any) -> tuple[type[BaseException], ...]:
    if isinstance(exclude, type):
        exclude = (exclude,)
    exclude = tuple(exclude)
    for item in exclude:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise TypeError(f"exclude must hold exception classes, not {item!r}")
    return exclude


def _check_signal_allowed(signum: int) -> None:
    if threading.current_thread() is not threading.main_thread():
        raise DumpError(
            f"install(signal={signum!r}) must run in the main thread: Python lets only the main thread set signal "
            "handlers. Call install() from the main thread, or install without signal= here."
        )
    valid = signal_module.valid_signals()
    if signum not in valid:
        raise DumpError(f"install(signal={signum!r}): not a signal this platform knows; use e.g. signal.SIGUSR1")
    if signum in (signal_module.SIGKILL, getattr(signal_module, "SIGSTOP", signal_module.SIGKILL)):
        raise DumpError(f"install(signal={signum!r}): that signal cannot be caught; use e.g. signal.SIGUSR1")


def _install_excepthooks(installation: _Installation) -> None:
    def make_sys_hook(previous: Callable[..., Any]) -> Callable[..., Any]:
        def pyheapdump_excepthook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> Any:
            installation.dump_exception(exc, "excepthook")
            return previous(exc_type, exc, tb)

        return pyheapdump_excepthook

    def make_thread_hook(previous: Callable[..., Any]) -> Callable[..., Any]:
        def pyheapdump_threading_excepthook(args: Any) -> Any:
            thread = getattr(args, "thread", None)
            name = thread.name if isinstance(thread, threading.Thread) else "a thread"
            if args.exc_value is not None:
                installation.dump_exception(args.exc_value, "thread-excepthook", f"exception in thread {name}")
            return previous(args)

        return pyheapdump_threading_excepthook

    installation.patch(sys, "excepthook", make_sys_hook)
    installation.patch(threading, "excepthook", make_thread_hook)


def _install_signal(installation: _Installation, signum: int) -> None:
    def pyheapdump_signal_handler(received: int, frame: types.FrameType | None) -> Any:
        if installation.active:
            write_quietly(
                installation.writer,
                reason="signal",
                exc=False,  # a live dump: an exception the interrupted code is handling is not the reason
                frame=frame,
                threads=True,
                description=f"live dump on {_signal_name(received)}",
            )
        previous = installation.previous_signal_handler
        if callable(previous):
            return previous(received, frame)
        return None

    installation.previous_signal_handler = signal_module.signal(signum, pyheapdump_signal_handler)
    installation.signal_number = signum
    installation.signal_handler = pyheapdump_signal_handler


def _restore_signal(installation: _Installation) -> None:
    if installation.signal_number is None:
        return
    if signal_module.getsignal(installation.signal_number) is not installation.signal_handler:
        return  # replaced since: ours is inert now
    previous = installation.previous_signal_handler
    if previous is None:  # set from C, not by Python: the best Python can do is the default
        previous = signal_module.SIG_DFL
    try:
        signal_module.signal(installation.signal_number, previous)
    except ValueError:
        pass  # uninstall() from another thread: the handler stays, inert, forwarding to the previous one


def _signal_name(signum: int) -> str:
    try:
        return signal_module.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


# --- hooks applied when a module is first imported --------------------------------------------------------------------


def _watch_lazy_modules(installation: _Installation) -> None:
    for name, apply in (
        ("asyncio.base_events", _patch_asyncio),
        ("multiprocessing.process", _patch_multiprocessing_process),
        ("multiprocessing.pool", _patch_multiprocessing_pool),
        ("concurrent.futures.process", _patch_process_pool_executor),
    ):
        _WATCHER.watch(name, installation, functools.partial(apply, installation))


def _patch_asyncio(installation: _Installation, module: types.ModuleType) -> None:
    def make(previous: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(previous)
        def call_exception_handler(self: Any, context: dict[str, Any]) -> Any:
            exc = context.get("exception") if isinstance(context, dict) else None
            if isinstance(exc, BaseException):
                message = context.get("message")
                installation.dump_exception(exc, "asyncio", message if isinstance(message, str) else None)
            return previous(self, context)

        return call_exception_handler

    installation.patch(module.BaseEventLoop, "call_exception_handler", make)


def _patch_multiprocessing_process(installation: _Installation, module: types.ModuleType) -> None:
    def make(previous: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(previous)
        def _bootstrap(self: Any, *args: Any, **kwargs: Any) -> Any:
            # Runs in the child: wrap this process's run() so its exception dumps before multiprocessing prints it.
            run = self.run

            @functools.wraps(run)
            def run_with_dump() -> Any:
                try:
                    return run()
                except BaseException as exc:
                    installation.dump_exception(exc, "multiprocessing", f"exception in process {self.name}")
                    raise

            self.run = run_with_dump
            return previous(self, *args, **kwargs)

        return _bootstrap

    installation.patch(module.BaseProcess, "_bootstrap", make)


def _patch_exception_with_traceback(installation: _Installation, cls: type, reason: str) -> None:
    # Pool workers wrap a task's exception in this class to send it to the parent: the one moment the worker sees it.
    def make(previous: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(previous)
        def __init__(self: Any, exc: BaseException, tb: Any, *args: Any, **kwargs: Any) -> None:
            installation.dump_exception(exc, reason, "exception in a pool worker's task")
            previous(self, exc, tb, *args, **kwargs)

        return __init__

    installation.patch(cls, "__init__", make)


def _patch_multiprocessing_pool(installation: _Installation, module: types.ModuleType) -> None:
    _patch_exception_with_traceback(installation, module.ExceptionWithTraceback, "multiprocessing-pool")


def _patch_process_pool_executor(installation: _Installation, module: types.ModuleType) -> None:
    _patch_exception_with_traceback(installation, module._ExceptionWithTraceback, "process-pool")


class _PatchingLoader(importlib.abc.Loader):
    """Delegates to the real loader; once the module has executed, applies the hooks waiting for it."""

    def __init__(self, loader: Any, on_loaded: Callable[[types.ModuleType], None]) -> None:
        self.loader = loader
        self.on_loaded = on_loaded

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        # Hide ourselves: the module's __loader__ and __spec__.loader are the real loader, as without us.
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        self.on_loaded(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)


class _ImportWatcher(importlib.abc.MetaPathFinder):
    """A `sys.meta_path` finder that applies hooks to watched modules right after they are first imported.

    It answers only for the watched names (a dict lookup for every other import) and leaves `sys.meta_path` once
    nothing is left to watch.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._pending: dict[str, list[tuple[object, Callable[[types.ModuleType], None]]]] = {}

    def watch(self, name: str, owner: object, apply: Callable[[types.ModuleType], None]) -> None:
        """`apply(module)` once `name` is imported (now, if it is); `forget(owner)` cancels what is still pending."""
        module = sys.modules.get(name)
        if module is not None and not _initializing(module):
            _apply_guarded(apply, module)
            return
        with self._lock:
            self._pending.setdefault(name, []).append((owner, apply))
            if self not in sys.meta_path:
                sys.meta_path.insert(0, self)

    def forget(self, owner: object) -> None:
        with self._lock:
            for name in list(self._pending):
                self._pending[name] = [item for item in self._pending[name] if item[0] is not owner]
                if not self._pending[name]:
                    del self._pending[name]
            self._leave_if_idle()

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self._pending:
            return None
        spec = self._spec_from_other_finders(fullname, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(spec.loader, functools.partial(self._loaded, fullname))
        return spec

    def _spec_from_other_finders(self, fullname: str, path: Any, target: Any) -> importlib.machinery.ModuleSpec | None:
        for finder in list(sys.meta_path):
            if finder is self:
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                return spec
        return None

    def _loaded(self, name: str, module: types.ModuleType) -> None:
        with self._lock:
            waiting = self._pending.pop(name, [])
            self._leave_if_idle()
        for _owner, apply in waiting:
            _apply_guarded(apply, module)

    def _leave_if_idle(self) -> None:
        if not self._pending and self in sys.meta_path:
            sys.meta_path.remove(self)


def _initializing(module: types.ModuleType) -> bool:
    spec = getattr(module, "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


def _apply_guarded(apply: Callable[[types.ModuleType], None], module: types.ModuleType) -> None:
    try:
        apply(module)
    except Exception as error:  # a changed stdlib: that hook is missing, the others work
        _complain(f"hooking {module.__name__}", error)


_WATCHER = _ImportWatcher()


def watch_module(name: str, apply: Callable[[types.ModuleType], None]) -> Callable[[], None]:
    """Call `apply(module)` once module `name` is imported (now if it already is); returns a function that cancels.

    For runners that hook a framework only if the program uses it (`pyheapdump run` and unittest).
    """
    owner = object()
    _WATCHER.watch(name, owner, apply)
    return lambda: _WATCHER.forget(owner)


# --- dump_on_error ---------------------------------------------------------------------------------------------------


class DumpOnError:
    """Context manager (sync and async) and decorator that writes a dump when its block raises, then re-raises.

    Made by `dump_on_error(...)`.
    """

    def __init__(self, writer: DumpWriter, exclude: tuple[type[BaseException], ...], description: str | None) -> None:
        self.writer = writer
        self.exclude = exclude
        self.description = description

    def _dump(self, exc: BaseException | None) -> None:
        if exc is None or isinstance(exc, self.exclude) or _is_cancellation(exc):
            return
        write_quietly(self.writer, reason="dump_on_error", exc=exc, description=self.description)

    def __enter__(self) -> DumpOnError:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        self._dump(exc)
        return False

    async def __aenter__(self) -> DumpOnError:
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        self._dump(exc)
        return False

    def __call__(self, func: F) -> F:
        if inspect.isasyncgenfunction(func):
            raise TypeError(
                f"dump_on_error cannot wrap the async generator function {func.__qualname__}: "
                "use `async with dump_on_error():` inside it instead"
            )
        if inspect.iscoroutinefunction(func):
            return self._wrap_coroutine_function(func)
        if inspect.isgeneratorfunction(func):
            return self._wrap_generator_function(func)
        return self._wrap_function(func)

    def _wrap_function(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except BaseException as exc:
                self._dump(exc)
                raise

        return wrapper  # type: ignore[return-value]

    def _wrap_coroutine_function(self, func: F) -> F:
        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await func(*args, **kwargs)
            except BaseException as exc:
                self._dump(exc)
                raise

        return wrapper  # type: ignore[return-value]

    def _wrap_generator_function(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                return (yield from func(*args, **kwargs))
            except BaseException as exc:
                self._dump(exc)
                raise

        return wrapper  # type: ignore[return-value]


def dump_on_error(
    func: Callable[..., Any] | str | os.PathLike[str] | None = None,
    /,
    *,
    directory: str | os.PathLike[str] | None = None,
    exclude: tuple[type[BaseException], ...] = (KeyboardInterrupt, SystemExit, GeneratorExit),
    description: str | None = None,
    threads: bool = True,
    keep: int | None = None,
    keep_bytes: int | None = None,
    **limits: Any,
) -> Any:
    """Dump when a block or a function raises, then let the exception go on.

    As a decorator: `@dump_on_error`, `@dump_on_error("/var/dumps")` or `@dump_on_error(directory=...)` on a
    function, a coroutine function or a generator function. As a context manager: `with dump_on_error(): ...` or
    `async with dump_on_error(): ...`.
    Exceptions in `exclude` and task cancellation (asyncio.CancelledError) never dump. The dump counts against the
    process-wide caps (see `install()`); the directory defaults to `$PYHEAPDUMP_DIR`, else the engine's default.
    """
    if isinstance(func, (str, os.PathLike)):  # @dump_on_error("/var/dumps"), as install("/var/dumps") reads
        if directory is not None:
            raise TypeError("dump_on_error() got the directory twice: positionally and as directory=")
        func, directory = None, func
    # The process-wide caps as install() set them: only pruning, threads and limits are dump_on_error's own.
    writer = CaptureOptions(keep=keep, keep_bytes=keep_bytes, threads=threads, limits=limits).writer(
        directory, _GLOBAL_BUDGET)
    guard = DumpOnError(writer, _check_exclude(exclude), description)
    if func is not None:
        if not callable(func):
            raise TypeError(f"dump_on_error() takes a function, a directory or keyword options, not {func!r}")
        return guard(func)
    return guard


def _is_cancellation(exc: BaseException) -> bool:
    asyncio_exceptions = sys.modules.get("asyncio.exceptions")
    cancelled = getattr(asyncio_exceptions, "CancelledError", None)
    return isinstance(cancelled, type) and isinstance(exc, cancelled)


def global_budget() -> DumpBudget:
    """The process-wide caps shared by install() and dump_on_error()."""
    return _GLOBAL_BUDGET
