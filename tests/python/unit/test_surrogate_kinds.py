"""The kinds of objects pickle cannot handle come back with their useful facts (surrogates/*.py)."""

from __future__ import annotations

import io
import socket
import threading

import pytest

import pyheapdump


def dump_and_load_locals(tmp_path, **objects):
    """Dumps a frame whose locals are `objects` and returns the locals read back from the file."""

    def frame_holding(**values):
        return pyheapdump.save_dump(tmp_path / "kinds.heapdump", threads=False)

    path = frame_holding(**objects)
    dump = pyheapdump.load_dump(path)
    return dump.threads[0].frames[-1].f_locals["values"]


def test_numpy_arrays_load_as_real_arrays_from_an_untrusted_dump(tmp_path):
    numpy = pytest.importorskip("numpy")
    originals = {
        "matrix": numpy.arange(12, dtype=numpy.float32).reshape(3, 4),
        "fortran": numpy.asfortranarray(numpy.arange(6).reshape(2, 3)),
        "objects": numpy.array([1, "a", None], dtype=object),
        "records": numpy.array([(1, 2.5), (3, 4.5)], dtype=[("x", "<i4"), ("y", "<f8")]),
        "times": numpy.array(["2024-01-01T00:00"], dtype="datetime64[ns]"),
        "scalar": numpy.int64(7),
    }
    loaded = dump_and_load_locals(tmp_path, **originals)
    for name, original in originals.items():
        assert type(loaded[name]) is type(original), name
        assert loaded[name].dtype == original.dtype, name
        assert numpy.array_equal(loaded[name], original), name
    assert loaded["fortran"].flags.f_contiguous


def test_lock_surrogates_answer_locked_as_the_lock_did_when_dumped(tmp_path):
    held, free, reentrant = threading.Lock(), threading.Lock(), threading.RLock()
    held.acquire()
    reentrant.acquire()
    reentrant.acquire()
    try:
        loaded = dump_and_load_locals(tmp_path, held=held, free=free, reentrant=reentrant)
    finally:
        held.release()
        reentrant.release()
        reentrant.release()
    assert isinstance(loaded["held"], pyheapdump.Surrogate)
    assert loaded["held"].locked() is True  # the lock's own method answers as it did when dumped
    assert loaded["free"].locked() is False
    assert loaded["reentrant"].locked() is True
    assert loaded["reentrant"].count == 2
    assert loaded["reentrant"].owner == threading.get_ident()
    assert pyheapdump.surrogate_info(loaded["held"]).facts == {"locked": True}


def test_open_file_surrogate_has_name_mode_and_position_without_flushing(tmp_path):
    target = tmp_path / "log.txt"
    with open(target, "w") as written, open(target) as read:
        written.write("buffered, not yet flushed")
        loaded = dump_and_load_locals(tmp_path, written=written, read=read)
        assert target.read_text() == "", "the dump flushed the program's file"
    surrogate = loaded["written"]
    assert surrogate.name == str(target)
    assert surrogate.mode == "w"
    assert surrogate.closed is False
    assert surrogate.position == 0
    assert "TextIOWrapper" in repr(surrogate)


def test_memory_files_come_back_with_content_and_position(tmp_path):
    text = io.StringIO("hello world")
    text.seek(6)
    data = io.BytesIO(b"\x00\x01\x02")
    loaded = dump_and_load_locals(tmp_path, text=text, data=data)
    assert loaded["text"].read() == "world"
    assert loaded["data"].getvalue() == b"\x00\x01\x02"


def test_socket_surrogate_has_its_addresses(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        loaded = dump_and_load_locals(tmp_path, server=server)
        port = server.getsockname()[1]
    surrogate = loaded["server"]
    assert surrogate.laddr == ["127.0.0.1", port]
    assert surrogate.raddr is None
    assert surrogate.family == socket.AF_INET
    assert pyheapdump.surrogate_info(surrogate).original == "socket.socket"
