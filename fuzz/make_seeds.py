"""Writes the fuzzers' seed corpus: small real dumps, each exercising a different part of the format.

    python fuzz/make_seeds.py OUTPUT_DIR

Each dump is written by this process through the public API (pyheapdump.save_dump), so the seeds are exactly what
the writer produces: a crash with locals, nested containers and identity, many threads, big strings spread over
several RECORDS chunks, objects cut by every limit, reduce records, chained exceptions, and a dump cut short.
Dumps are kept small (threads=False where the threads are not the point) so the fuzzers mutate them quickly.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import fractions
import functools
import os
import pathlib
import sys
import threading
import uuid
from typing import Any

import pyheapdump


@dataclasses.dataclass
class Point:
    x: int
    y: float


class Slotted:
    __slots__ = ("left", "right")

    def __init__(self, left: Any, right: Any) -> None:
        self.left = left
        self.right = right


class Ledger:
    """A class whose own __reduce_ex__ is called only with call_user_reduce=True."""

    def __init__(self, entries: list[int]) -> None:
        self.entries = entries

    def __reduce_ex__(self, protocol: int) -> Any:
        return (Ledger, (self.entries,), {"note": "state"})


def crash_with_locals(out: pathlib.Path) -> None:
    def handle(request: dict[str, Any]) -> None:
        user = request["user"]
        total = sum(request["items"]) / (len(request["items"]) - 3)  # raises ZeroDivisionError
        print(user, total)

    try:
        handle({"user": "ada", "items": [1, 2, 3], "flags": {"beta", "gamma"}})
    except ZeroDivisionError:
        pyheapdump.save_dump(out / "crash_locals.heapdump", threads=False, description="a crash with locals")


def nested_containers(out: pathlib.Path) -> None:
    shared = [1, 2, 3]
    cyclic: list[Any] = ["head"]
    cyclic.append(cyclic)
    mapping: dict[Any, Any] = {"self": None}
    mapping["self"] = mapping
    scene = {
        "tuple": (shared, shared, (1, (2, (3, ())))),
        "frozen": frozenset({1, "two", 3.0, b"four"}),
        "set": {None, True, 7},
        "big": 2**200 - 1,
        "negative": -(2**90),
        "complex": complex(1.5, -2),
        "bytearray": bytearray(b"\x00\xff" * 8),
        "deque": collections.deque([1, 2, 3], maxlen=5),
        "ordered": collections.OrderedDict(a=1, b=2),
        "default": collections.defaultdict(list, {"k": [0]}),
        "counter": collections.Counter("mississippi"),
        "range": range(3, 30, 4),
        "slice": slice(1, None, -2),
        "cyclic": cyclic,
        "mapping": mapping,
        "point": Point(3, 4.5),
        "slotted": Slotted(Slotted(None, 1), [2]),
        "specials": [Ellipsis, NotImplemented, float("nan"), float("-inf"), "\udcff surrogate", "é ü 中"],
    }
    pyheapdump.save_dump(out / "nested.heapdump", frame=sys._getframe(), threads=False, description=repr(len(scene)))


def many_threads(out: pathlib.Path) -> None:
    release = threading.Event()
    started = threading.Barrier(9)

    def worker(number: int) -> None:
        payload = {"worker": number, "data": list(range(number))}
        started.wait()
        release.wait()
        del payload

    workers = [threading.Thread(target=worker, args=(n,), name=f"worker-{n}", daemon=n % 2 == 0) for n in range(8)]
    for thread in workers:
        thread.start()
    started.wait()
    try:
        pyheapdump.save_dump(out / "threads.heapdump", description="eight threads")
    finally:
        release.set()
        for thread in workers:
            thread.join()


def big_strings(out: pathlib.Path) -> None:
    # Repetitive text compresses well: over 1 MiB of raw records (several RECORDS chunks) in a small file.
    lines = [f"line {n}: " + "lorem ipsum " * 40 for n in range(2300)]
    text = "\n".join(lines)
    blob = text.encode()[:100_000]
    pyheapdump.save_dump(out / "big_strings.heapdump", frame=sys._getframe(), threads=False)
    del lines, text, blob


def cut_by_limits(out: pathlib.Path) -> None:
    long_list = list(range(5000))
    long_str = "x" * 10_000
    wide = {f"key{n}": [n] for n in range(3000)}
    pyheapdump.save_dump(out / "cut.heapdump", frame=sys._getframe(), threads=False, max_items=100, max_str=64,
                         max_objects=400)
    del long_list, long_str, wide


def reduces_and_exceptions(out: pathlib.Path) -> None:
    values = [
        datetime.datetime(2024, 5, 17, 12, 30, tzinfo=datetime.UTC),
        datetime.date(2000, 1, 1),
        decimal.Decimal("3.14159"),
        fractions.Fraction(22, 7),
        uuid.UUID(int=12345),
        pathlib.PurePosixPath("/var/dumps/x"),
        functools.partial(int, base=16),
        Ledger([1, 2, 3]),
    ]
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise ExceptionGroup("several", [ValueError("one"), TypeError("two")]) from inner
    except ExceptionGroup:
        pyheapdump.save_dump(out / "reduce_exceptions.heapdump", threads=False, call_user_reduce=True)
    del values


def cut_short(out: pathlib.Path) -> None:
    """A dump whose writer died part-way: the file ends inside its last chunk."""
    whole = (out / "nested.heapdump").read_bytes()
    (out / "truncated.heapdump").write_bytes(whole[: len(whole) * 2 // 3])


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for make in (crash_with_locals, nested_containers, many_threads, big_strings, cut_by_limits,
                 reduces_and_exceptions, cut_short):
        make(out)
    for path in sorted(out.glob("*.heapdump")):
        print(f"{path.name}: {os.path.getsize(path)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
