"""Installs pyheapdump's hooks at interpreter start-up when `PYHEAPDUMP_DIR` is set.

`pyheapdump_autoinstall.pth` (installed into site-packages with the wheel) imports this module, and only when the
variable is set, so a Python process without it pays one environment lookup. With it set, every Python process that
has pyheapdump installed (subprocesses, multiprocessing workers, `pyheapdump run`'s children) calls
`pyheapdump.install(directory=$PYHEAPDUMP_DIR)`; `PYHEAPDUMP_SIGNAL=USR1` (a signal name or number) adds the live-dump
signal too.

Start-up must never break because of us: any failure prints one line to stderr and the program starts as usual.
Processes started with `python -S` or `-I` (no site processing) do not read .pth files and so do not install.
"""

from __future__ import annotations

import os
import sys


def _signal_from_environment() -> int | None:
    text = os.environ.get("PYHEAPDUMP_SIGNAL", "").strip().upper()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    import signal

    number = getattr(signal, text if text.startswith("SIG") else "SIG" + text, None)
    if not isinstance(number, int):
        raise ValueError(f"PYHEAPDUMP_SIGNAL={text!r} names no signal here; use e.g. USR1")
    return number


def autoinstall() -> None:
    directory = os.environ.get("PYHEAPDUMP_DIR")
    if not directory:
        return
    try:
        from pyheapdump.capture.hooks import install

        install(directory, signal=_signal_from_environment())
    except Exception as error:
        try:
            print(f"pyheapdump: PYHEAPDUMP_DIR is set but the hooks could not be installed: {error}", file=sys.stderr)
        except Exception:
            pass


autoinstall()
