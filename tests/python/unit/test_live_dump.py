"""A live dump (a signal, a watchdog) taken while the program is handling an exception is not a post-mortem."""

from __future__ import annotations

import os
import signal

import pyheapdump


def test_exc_false_dumps_no_exception_even_inside_an_except_block(tmp_path):
    try:
        raise KeyError("being handled")
    except KeyError:
        path = pyheapdump.save_dump(tmp_path / "live.heapdump", exc=False, threads=False)
    dump = pyheapdump.load_dump(path)
    assert dump.exception is None
    assert dump.metadata["exception"] is None
    assert dump.metadata["reason"] == "explicit"


def test_without_exc_the_exception_being_handled_is_dumped(tmp_path):
    try:
        raise KeyError("being handled")
    except KeyError:
        path = pyheapdump.save_dump(tmp_path / "handled.heapdump", threads=False)
    assert isinstance(pyheapdump.load_dump(path).exception, KeyError)


def test_the_signal_hook_takes_a_live_dump_while_an_exception_is_handled(tmp_path):
    pyheapdump.install(tmp_path, signal=signal.SIGUSR2)
    try:
        try:
            raise KeyError("being handled")
        except KeyError:
            os.kill(os.getpid(), signal.SIGUSR2)  # the handler runs here, in the main thread
    finally:
        pyheapdump.uninstall()
    (path,) = tmp_path.glob("*.heapdump")
    dump = pyheapdump.load_dump(path)
    assert dump.exception is None
    assert dump.metadata["reason"] == "signal"
