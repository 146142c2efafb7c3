"""`install()` and `uninstall()`: the excepthooks, the live-dump signal and the lazy patches, undone together.

Imported with the package, by every process that installs the hooks: typing is for the type checker only, and the
signal module is imported by `install(signal=...)`, which needs it (most installations have no signal).
"""

from __future__ import annotations

import os
import sys
import threading
import types

from pyheapdump.capture.caps import (
    _GLOBAL_BUDGET,
    DEFAULT_MAX_DUMPS,
    DEFAULT_MAX_PER_WINDOW,
    DEFAULT_PER_SECONDS,
)
from pyheapdump.capture.lazy import _WATCHER, _watch_lazy_modules
from pyheapdump.capture.remote import announce_signal, serve_signal_request, take_signal_request, withdraw_signal
from pyheapdump.capture.writer import CaptureOptions, DumpWriter, write_quietly
from pyheapdump.errors import DumpError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


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
    import signal as signal_module

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
    import signal as signal_module

    description = f"live dump on {_signal_name(signum)}"  # named now, not in the handler, while the program fails

    def pyheapdump_signal_handler(received: int, frame: types.FrameType | None) -> Any:
        if installation.active:
            # `pyheapdump dump PID` leaves a request (where, threads, heap, limits) before it sends the signal
            request = take_signal_request()
            if request is None or not serve_signal_request(installation.writer, request, frame, description):
                write_quietly(
                    installation.writer,
                    reason="signal",
                    exc=False,  # a live dump: an exception the interrupted code is handling is not the reason
                    frame=frame,
                    threads=True,
                    description=description,
                )
        previous = installation.previous_signal_handler
        if callable(previous):
            return previous(received, frame)
        return None

    installation.previous_signal_handler = signal_module.signal(signum, pyheapdump_signal_handler)
    installation.signal_number = signum
    installation.signal_handler = pyheapdump_signal_handler
    # So that `pyheapdump dump PID` finds this signal and the directory.
    announce_signal(signum, installation.writer.directory)


def _restore_signal(installation: _Installation) -> None:
    if installation.signal_number is None:
        return
    import signal as signal_module  # imported by _install_signal: no import runs here

    withdraw_signal()
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
    import signal as signal_module

    try:
        return signal_module.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
