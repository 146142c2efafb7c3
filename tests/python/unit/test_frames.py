"""Re-enacted frames and tracebacks are real objects that carry what the dump holds."""

from __future__ import annotations

import _thread
import inspect
import linecache
import sys
import time
import traceback
import types

import pytest

from pyheapdump.model import DumpedCode, DumpedFrame, DumpedThread, DumpedTraceback, HeapDump
from pyheapdump.present.sources import served_sources
from pyheapdump.reenact.frames import iter_stack, reenact

PROGRAM = "/dumped/elsewhere/prog.py"
SOURCE = "".join(f"line_{n} = {n}\n" for n in range(1, 61))


def frame(
    name: str,
    first: int,
    line: int,
    local_vars: dict,
    globs: dict,
    back: DumpedFrame | None = None,
    filename: str = PROGRAM,
    **code: object,
) -> DumpedFrame:
    return DumpedFrame(
        DumpedCode(filename, name, code.pop("qualname", name), first, **code), line, -1, local_vars, globs, back
    )


def make_dump(
    threads: list[DumpedThread],
    exception: BaseException | None = None,
    tracebacks: dict[int, DumpedTraceback] | None = None,
    sources: dict[str, str] | None = None,
) -> HeapDump:
    return HeapDump(
        "synthetic.heapdump", {"python": "0.0"}, threads, exception, [], sources or {}, tracebacks=tracebacks or {}
    )


def chain_of(dump_frames: list[DumpedFrame]) -> list[types.FrameType]:
    reenacted = reenact(make_dump([DumpedThread("T", 1, False, True, dump_frames)]))
    return reenacted.stacks[0].frames


def test_frames_carry_the_dumped_code_names_lines_locals_and_globals() -> None:
    globs = {"__name__": "prog", "CONSTANT": 42}
    outer = frame("<module>", 1, 50, globs, globs)
    inner = frame("handle", 10, 12, {"request": "GET /", "count": 3}, globs, outer, qualname="Server.handle")
    real_outer, real_inner = chain_of([outer, inner])
    assert isinstance(real_inner, types.FrameType)
    code = real_inner.f_code
    assert (code.co_filename, code.co_name, code.co_qualname, code.co_firstlineno) == (
        PROGRAM,
        "handle",
        "Server.handle",
        10,
    )
    assert real_inner.f_lineno == 12 and real_outer.f_lineno == 50
    assert dict(real_inner.f_locals) == {"request": "GET /", "count": 3}
    assert real_inner.f_globals is globs and real_outer.f_locals is globs
    assert "__builtins__" not in globs  # nothing was added to the dumped globals
    assert real_inner.f_back is real_outer and real_outer.f_back is None


def test_local_names_that_shadow_builtins_and_helpers_are_kept() -> None:
    local_vars = {"exec": 1, "__builtins__": {"fake": True}, "sys": "not a module", ".0": iter(()), "capture": None}
    (real,) = chain_of([frame("f", 1, 2, local_vars, {})])
    assert dict(real.f_locals) == local_vars


@pytest.mark.parametrize(
    "filename", ["<stdin>", '/tmp/with space/and "quote".py', "C:\\win\\path.py", "ü/ñ.py", "multi\nline.py", ""]
)
@pytest.mark.parametrize("line", [0, 1, 2**31 - 1])
def test_odd_filenames_names_and_line_numbers(filename: str, line: int) -> None:
    (real,) = chain_of([frame("weird name-with.dots", 1, line, {}, {}, filename=filename, qualname="<lambda>.<x>")])
    assert real.f_code.co_filename == filename
    assert real.f_code.co_name == "weird name-with.dots" and real.f_code.co_qualname == "<lambda>.<x>"
    assert real.f_lineno == line


def test_recursion_of_the_same_code_thousands_deep() -> None:
    depth = 20_000
    limit = sys.getrecursionlimit()
    dumped: list[DumpedFrame] = []
    back = None
    for level in range(depth):
        back = frame("recurse", 5, 7, {"n": level}, {}, back)
        dumped.append(back)
    started = time.monotonic()
    frames = chain_of(dumped)
    assert time.monotonic() - started < 60
    assert len(frames) == depth and len(list(iter_stack(frames[-1]))) == depth
    assert frames[-1].f_locals["n"] == depth - 1 and frames[0].f_back is None
    assert sys.getrecursionlimit() == limit  # raised only while re-enacting
    summary = "".join(traceback.format_stack(frames[-1]))
    assert "[Previous line repeated" in summary


def test_helper_threads_are_gone_afterwards() -> None:
    before = _thread._count()  # every thread started by _thread and still running
    chain_of([frame("f", 1, 2, {}, {})])
    deadline = time.monotonic() + 10
    while _thread._count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _thread._count() == before


def test_exception_chain_gets_real_tracebacks_that_format_like_python() -> None:
    globs: dict = {}
    main = frame("main", 20, 25, {"a": 1}, globs)
    load = frame("load", 10, 12, {"x": 2}, globs, main)
    parse = frame("parse", 3, 5, {"y": 3}, globs, load)
    cause = ValueError("inner")
    exc = RuntimeError("outer")
    exc.__cause__ = cause
    tracebacks = {
        id(exc): DumpedTraceback(main, 22, -1, DumpedTraceback(load, 13)),
        id(cause): DumpedTraceback(load, 12, -1, DumpedTraceback(parse, 5)),
    }
    dump = make_dump([DumpedThread("MainThread", 1, False, True, [main])], exc, tracebacks, {PROGRAM: SOURCE})
    reenacted = reenact(dump)
    assert isinstance(exc.__traceback__, types.TracebackType) and reenacted.traceback is exc.__traceback__
    assert [(tb.tb_frame.f_code.co_name, tb.tb_lineno) for tb in _walk(exc.__traceback__)] == [
        ("main", 22),
        ("load", 13),
    ]
    assert [(tb.tb_frame.f_code.co_name, tb.tb_lineno) for tb in _walk(cause.__traceback__)] == [
        ("load", 12),
        ("parse", 5),
    ]
    # one frame, one real frame: the thread's `main` is the traceback's `main`, at its own line
    assert exc.__traceback__.tb_frame is reenacted.stacks[0].top and reenacted.stacks[0].top.f_lineno == 25
    with served_sources(dump.sources):
        text = "".join(traceback.format_exception(exc))
    assert text == (
        "Traceback (most recent call last):\n"
        f'  File "{PROGRAM}", line 12, in load\n    line_12 = 12\n'
        f'  File "{PROGRAM}", line 5, in parse\n    line_5 = 5\n'
        "ValueError: inner\n\nThe above exception was the direct cause of the following exception:\n\n"
        "Traceback (most recent call last):\n"
        f'  File "{PROGRAM}", line 22, in main\n    line_22 = 22\n'
        f'  File "{PROGRAM}", line 13, in load\n    line_13 = 13\n'
        "RuntimeError: outer\n"
    )


def _walk(tb: types.TracebackType | None) -> list[types.TracebackType]:
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    return entries


def test_a_circle_of_f_back_links_in_a_damaged_dump_is_cut() -> None:
    a = frame("a", 1, 2, {}, {})
    b = frame("b", 1, 3, {}, {}, a)
    a.f_back = b
    reenacted = reenact(make_dump([DumpedThread("T", 1, False, True, [])], None, {}))
    assert reenacted.stacks[0].frames == []
    dump = HeapDump("x", {}, [], None, [], {}, frame=a)
    reenacted = reenact(dump)
    frames = list(iter_stack(reenacted.frame))
    assert 1 <= len(frames) <= 2 and frames[-1].f_back is None


def test_asyncio_style_stacks_follow_the_dumped_order_not_f_back() -> None:
    outer = frame("poll", 1, 3, {"i": 1}, {})
    inner = frame("read", 5, 8, {"j": 2}, {})  # suspended coroutines: no f_back
    (real_outer, real_inner) = chain_of([outer, inner])
    assert real_inner.f_back is real_outer


def test_sources_are_served_under_the_dumped_names_and_beat_the_disk(tmp_path: object) -> None:
    on_disk = tmp_path / "prog.py"  # type: ignore[operator]
    on_disk.write_text("def shown():\n    return 'from disk'\n")
    dumped_text = "def shown():\n    return 'from the dump'\n"
    globs: dict = {}
    (real,) = chain_of([frame("shown", 1, 2, {}, globs, filename=str(on_disk))])
    with served_sources({str(on_disk): dumped_text, "<dumped>": "x = 1\n"}):
        linecache.checkcache()
        assert linecache.getline(str(on_disk), 2) == "    return 'from the dump'\n"
        assert inspect.getsource(real) == dumped_text
        assert linecache.getline("<dumped>", 1) == "x = 1\n"
        linecache.lazycache(str(on_disk), {"__loader__": None, "__name__": "prog"})
        assert linecache.getline(str(on_disk), 2) == "    return 'from the dump'\n"
    assert "<dumped>" not in linecache.cache
    assert linecache.getline(str(on_disk), 2) == "    return 'from disk'\n"


def test_relative_dumped_filenames_are_found_under_pdbs_absolute_name() -> None:
    import os

    with served_sources({"relative/mod.py": "value = 1\n"}):
        assert linecache.getline(os.path.abspath("relative/mod.py"), 1) == "value = 1\n"
