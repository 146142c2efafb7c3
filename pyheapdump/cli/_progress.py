"""Progress shown on stderr while the command line works on something slow; only on a terminal."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DELAY = 0.5  # fast operations show nothing
_TICK = 0.1


def _on_terminal() -> bool:
    return sys.stderr.isatty()


@contextlib.contextmanager
def busy(label: str) -> Iterator[None]:
    """Show `label` with a spinner and the elapsed time while the block runs (stderr is a terminal)."""
    if not _on_terminal():
        yield
        return
    stop = threading.Event()
    started = time.monotonic()

    def spin() -> None:
        if stop.wait(_DELAY):
            return
        frames = "|/-\\"
        tick = 0
        while not stop.wait(_TICK):
            tick += 1
            sys.stderr.write(f"\r{label} {frames[tick % 4]} {time.monotonic() - started:5.1f}s")
            sys.stderr.flush()
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()

    spinner = threading.Thread(target=spin, name="pyheapdump-progress", daemon=True)
    spinner.start()
    try:
        yield
    finally:
        stop.set()
        spinner.join()


def run_busy(label: str, work: Callable[[], T]) -> T:
    with busy(label):
        return work()


def bar(label: str, done: int, total: int) -> None:
    """Draw (or, at the end, clear) a one-line bar for `done` of `total` steps (stderr is a terminal)."""
    if not _on_terminal() or total <= 1:
        return
    if done >= total:
        sys.stderr.write("\r\033[K")
    else:
        width = 30
        filled = width * done // total
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    sys.stderr.flush()
