"""Dumps written under stress, one scenario per run; each prints one JSON report line (the tests check it).

    python trust_stress.py SCENARIO DIRECTORY [ARGS...]

mutate N       N dumps while four threads mutate the dumped dicts, lists, sets and objects; every dump is then loaded
               and its snapshot checked (a list only ever extended by pairs (i, -i) must hold whole pairs)
hostile        objects whose __getattribute__, __getattr__, __class__, __reduce_ex__, __repr__, __sizeof__, __hash__,
               __eq__, __iter__ and properties raise, loop forever, sleep, return garbage or record that they ran,
               and subclasses of RLock, FileIO, socket and BytesIO overriding what pyheapdump reads of those
deep N         a list nested N levels deep (load-deep PATH loads it in another process and measures the depth)
big N          a list of N ints (cut by max_items)
lowmem MIB     the program fails while its address space (RLIMIT_AS) has only MIB MiB to spare; `hook` as a third
               argument dumps through pyheapdump.install()'s excepthook instead of an explicit save_dump, `logging`
               through a HeapDumpHandler on logger.exception()
records N      a dump of N small records (DIRECTORY/records.heapdump), for the low-memory loads below
lowmem-load PATH MIB
               load the dump PATH with only MIB MiB of address space to spare; reports the outcome
lowmem-cli MIB ARGS...
               the `pyheapdump` command line with only MIB MiB of address space to spare; exits with its status
lowmem-records PATH MIB
               every record of the dump PATH as tuples (DumpReader.records()) with only MIB MiB to spare; reports
signal         a dump requested from a signal handler while a dump of a large heap runs
thread         a dump requested from another thread while a dump of a large heap runs
"""

from __future__ import annotations

import _thread
import io
import json
import logging
import os
import resource
import signal
import socket
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pyheapdump

RAN: list[str] = []  # what hostile code ran while dumping (the hostile scenario asserts: nothing)


def report(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def load_quietly(path: str | os.PathLike[str]) -> pyheapdump.HeapDump:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pyheapdump.load_dump(path)


def local_of(dump: pyheapdump.HeapDump, function: str, name: str) -> Any:
    for thread in dump.threads:
        for frame in thread.frames:
            if frame.f_code.co_name == function and name in frame.f_locals:
                return frame.f_locals[name]
    raise LookupError(f"no local {name} of {function} in the dump")


# ---- other threads mutating what is being dumped ----

class Node:
    def __init__(self, value: int) -> None:
        self.value = value


def mutate(directory: Path, count: int) -> None:
    pairs: list[int] = []
    table: dict[int, Any] = {}
    members: set[int] = set()
    node = Node(0)
    stop = threading.Event()

    def extend_pairs() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            pairs.extend((i, -i))  # one C call: a consistent snapshot never shows half a pair
            if len(pairs) > 20_000:
                del pairs[:10_000]

    def churn_table() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            table[i] = [i, str(i)]
            table.pop(i - 500, None)
            members.add(i)
            members.discard(i - 500)

    def churn_node() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            node.value = i
            node.__dict__[f"attr{i % 300}"] = Node(i)
            if i % 7 == 0:
                node.__dict__.pop(f"attr{(i + 150) % 300}", None)

    def replace_everything() -> None:
        while not stop.is_set():
            table.clear()
            node.__dict__.clear()
            node.value = -1
            time.sleep(0.001)

    workers = [threading.Thread(target=target, daemon=True)
               for target in (extend_pairs, churn_table, churn_node, replace_everything)]
    for worker in workers:
        worker.start()
    time.sleep(0.2)
    errors: list[str] = []
    paths = []
    started = time.perf_counter()
    for number in range(count):
        try:
            paths.append(pyheapdump.save_dump(directory / f"mutate-{number}.heapdump"))
        except Exception as error:  # noqa: BLE001 - reported: the test asserts there is none
            errors.append(f"{type(error).__name__}: {error}")
    elapsed = time.perf_counter() - started
    stop.set()
    for worker in workers:
        worker.join()
    torn = []
    for path in paths:
        snapshot = local_of(load_quietly(path), "mutate", "pairs")
        if len(snapshot) % 2 or any(snapshot[i] != -snapshot[i + 1] for i in range(0, len(snapshot), 2)):
            torn.append(os.fspath(path))
    report(dumps=len(paths), errors=errors, seconds=elapsed, dumps_per_second=len(paths) / elapsed, torn=torn)


# ---- hostile objects ----

class GetattributeRaises:
    def __init__(self) -> None:
        object.__setattr__(self, "kept", "getattribute")

    def __getattribute__(self, name: str) -> Any:
        RAN.append("__getattribute__")
        raise RuntimeError("no attribute for you")


class GetattrLoops:
    def __init__(self) -> None:
        self.kept = "getattr"

    def __getattr__(self, name: str) -> Any:
        RAN.append("__getattr__")
        while True:
            pass


class ClassLies:
    kept = "class"

    @property  # type: ignore[misc]
    def __class__(self) -> Any:
        RAN.append("__class__")
        return int


class ReduceRaises:
    def __init__(self) -> None:
        self.kept = "reduce raises"

    def __reduce_ex__(self, protocol: int) -> Any:
        RAN.append("__reduce_ex__ raises")
        raise RuntimeError("cannot reduce")


class ReduceSleeps:
    def __init__(self) -> None:
        self.kept = "reduce sleeps"

    def __reduce_ex__(self, protocol: int) -> Any:
        RAN.append("__reduce_ex__ sleeps")
        time.sleep(3600)
        return (ReduceSleeps, ())


class ReduceGarbage:
    def __init__(self) -> None:
        self.kept = "reduce garbage"

    def __reduce_ex__(self, protocol: int) -> Any:
        RAN.append("__reduce_ex__ garbage")
        return 42


class ReprSleeps:
    def __init__(self) -> None:
        self.kept = "repr"

    def __repr__(self) -> str:
        RAN.append("__repr__")
        time.sleep(3600)
        return "never"


class SizeofLies:
    def __init__(self) -> None:
        self.kept = "sizeof"

    def __sizeof__(self) -> int:
        RAN.append("__sizeof__")
        return -1


class HashAndEqRaise:
    def __init__(self) -> None:
        self.kept = "hash"

    def __hash__(self) -> int:
        RAN.append("__hash__")
        return 1234

    def __eq__(self, other: object) -> bool:
        RAN.append("__eq__")
        raise RuntimeError("incomparable")


class IterRaises(list):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        RAN.append("__iter__")
        raise RuntimeError("no iteration")

    def __len__(self) -> int:
        RAN.append("__len__")
        return -5


class SideEffects:
    def __init__(self) -> None:
        self.kept = "property"

    @property
    def expensive(self) -> int:
        RAN.append("property")
        Path(os.environ.get("TRUST_MARKER", os.devnull)).write_text("property ran")
        return 1


class DictProperty:
    kept = "dict"

    @property  # type: ignore[misc]
    def __dict__(self) -> Any:
        RAN.append("__dict__")
        return {"fake": True}


class RLockRepr(_thread.RLock):  # the lock support read an RLock's owner from repr(): this repr ran
    def __repr__(self) -> str:
        RAN.append("RLock subclass __repr__")
        time.sleep(3600)
        return "never"


class FileProperties(io.FileIO):  # the file support read name, mode, fileno() through the subclass
    @property
    def mode(self) -> str:
        RAN.append("FileIO subclass mode")
        return "rb"

    def fileno(self) -> int:
        RAN.append("FileIO subclass fileno")
        return super().fileno()


class SocketMethods(socket.socket):  # socket.socket's own __repr__ (Python) calls these
    @property
    def family(self) -> Any:
        RAN.append("socket subclass family")
        return socket.AF_INET

    def getsockname(self) -> Any:
        RAN.append("socket subclass getsockname")
        return ("0.0.0.0", 0)


class BufferMethods(io.BytesIO):
    def getvalue(self) -> bytes:
        RAN.append("BytesIO subclass getvalue")
        return b""


def hostile(directory: Path) -> None:
    key = HashAndEqRaise.__new__(HashAndEqRaise)
    object.__setattr__(key, "kept", "hash")
    objects = {
        "getattribute": GetattributeRaises(), "getattr": GetattrLoops(), "class": ClassLies(),
        "reduce raises": ReduceRaises(), "reduce sleeps": ReduceSleeps(), "reduce garbage": ReduceGarbage(),
        "repr": ReprSleeps(), "sizeof": SizeofLies(), "iter": IterRaises([1, 2, 3]), "property": SideEffects(),
        "dict": DictProperty(),
    }
    as_key = {key: "value"}
    native = [RLockRepr(), FileProperties(os.fspath(directory / "file.bin"), "w"), SocketMethods(), BufferMethods(b"x")]
    RAN.clear()  # building as_key hashed the key: only what runs from here on counts
    started = time.perf_counter()
    path = pyheapdump.save_dump(directory / "hostile.heapdump", threads=False, time_limit=20)
    elapsed = time.perf_counter() - started
    ran_while_dumping = list(RAN)
    dump = load_quietly(path)
    loaded = local_of(dump, "hostile", "objects")
    kept = {}
    for name, value in loaded.items():
        state = object.__getattribute__(value, "__dict__") if hasattr(type(value), "__dict__") else {}
        kept[name] = state.get("kept") if isinstance(state, dict) else None
    loaded_key = next(iter(local_of(dump, "hostile", "as_key")))
    report(ran=ran_while_dumping, seconds=elapsed, kept=kept, iter_items=list.__iter__(loaded["iter"]) and
           list(list.__iter__(loaded["iter"])), key_kept=object.__getattribute__(loaded_key, "__dict__").get("kept"),
           errors=dump.metadata.get("errors"), ran_after_load=RAN[len(ran_while_dumping):], objects=len(objects),
           as_key=len(as_key), native=len(native))


# ---- size ----

def deep(directory: Path, depth: int) -> None:
    root: list[Any] = []
    tip = root
    for _ in range(depth):
        child: list[Any] = []
        tip.append(child)
        tip = child
    started = time.perf_counter()
    path = pyheapdump.save_dump(directory / "deep.heapdump", threads=False)
    dump_seconds = time.perf_counter() - started
    del root, tip, child
    header = pyheapdump.read_header(path)
    report(path=path, seconds=dump_seconds, objects=header["objects"], cut=header["cut"],
           file_bytes=os.path.getsize(path))


def load_deep(path: str) -> None:
    """Loads a deep.heapdump in a process of its own and follows the nesting down to the innermost list."""
    started = time.perf_counter()
    dump = load_quietly(path)
    seconds = time.perf_counter() - started
    node = local_of(dump, "deep", "root")
    depth = 0
    while node:
        node = node[0]
        depth += 1
    report(depth=depth, seconds=seconds, peak_rss_mib=peak_rss_mib())


def big(directory: Path, length: int) -> None:
    items = list(range(length))
    started = time.perf_counter()
    path = pyheapdump.save_dump(directory / "big.heapdump", threads=False)
    elapsed = time.perf_counter() - started
    header = pyheapdump.read_header(path)
    dump = load_quietly(path)
    loaded = local_of(dump, "big", "items")
    report(seconds=elapsed, objects=header["objects"], cut=header["cut"], limits_hit=header["limits_hit"],
           file_bytes=os.path.getsize(path), raw_bytes=header["bytes"], loaded_length=len(loaded),
           loaded_head=list(loaded[:3]), tail_is_surrogate=isinstance(loaded[-1], pyheapdump.Surrogate),
           tail_info=str(pyheapdump.surrogate_info(loaded[-1])), peak_rss_mib=peak_rss_mib(), length=len(items))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- low memory ----

def address_space_in_use() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def limit_address_space(spare_mib: int) -> None:
    limit = address_space_in_use() + spare_mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def lowmem(directory: Path, spare_mib: int, how: str = "explicit") -> None:
    heap = [{"key": i, "value": [i, str(i)]} for i in range(1_000_000)]
    if how == "hook":
        pyheapdump.install(directory, threads=False)
    logger = logging.getLogger("lowmem")
    if how == "logging":
        logger.addHandler(pyheapdump.HeapDumpHandler(directory, threads=False))
    limit_address_space(spare_mib)

    def handle_request() -> None:
        raise ValueError(f"the program's own error ({len(heap)} records)")

    if how == "hook":
        handle_request()  # uncaught: the excepthook dumps (and fails), then Python prints this error
    try:
        handle_request()
    except ValueError:
        if how == "logging":
            logger.exception("request failed")  # the handler dumps (and fails); logging reports that on stderr
            print("logged", flush=True)
            raise
        try:
            pyheapdump.save_dump(directory=directory, threads=False)
            print("dump written", flush=True)
        except Exception as error:  # noqa: BLE001 - printed: the test reads it
            print(f"dump failed: {type(error).__name__}: {error}", flush=True)
        raise


def records(directory: Path, count: int) -> None:
    heap = [{"key": i, "value": [i, str(i), float(i)]} for i in range(count)]
    path = pyheapdump.save_dump(directory / "records.heapdump", threads=False)
    header = pyheapdump.read_header(path)
    report(path=str(path), records=len(heap), raw_bytes=header["bytes"], file_bytes=header["file_size"])


def lowmem_load(path: str, spare_mib: int) -> None:
    limit_address_space(spare_mib)
    try:
        load_quietly(path)
    except MemoryError as error:
        outcome = {"error": type(error).__name__, "message": str(error),
                   "dump_error": isinstance(error, pyheapdump.DumpError)}
    else:
        outcome = {"error": None}
    report(**outcome)


def lowmem_records(path: str, spare_mib: int) -> None:
    from pyheapdump.load.dumpfile import open_dump_file

    reader = open_dump_file(path)
    limit_address_space(spare_mib)
    try:
        records = reader.records()
    except MemoryError as error:
        outcome = {"error": type(error).__name__, "message": str(error),
                   "dump_error": isinstance(error, pyheapdump.DumpError)}
    else:
        outcome = {"error": None, "records": len(records), "warnings": len(reader.warnings)}
        del records
    report(**outcome)


def lowmem_cli(spare_mib: int, argv: list[str]) -> int:
    from pyheapdump.cli import build_parser, main

    build_parser()  # every subcommand imported while there is memory: the limit is for the command's own work
    limit_address_space(spare_mib)
    return main(argv)


# ---- re-entrancy ----

def large_heap() -> list[Any]:
    return [[i, str(i), {"i": i}] for i in range(400_000)]


def from_signal(directory: Path) -> None:
    heap = large_heap()
    outcomes: list[str] = []

    def on_alarm(signum: int, frame: Any) -> None:
        try:
            pyheapdump.save_dump(directory / "from-signal.heapdump", threads=False)
            outcomes.append("written")
        except pyheapdump.DumpInProgressError as error:
            outcomes.append(f"DumpInProgressError: {error}")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    started = time.perf_counter()
    path = pyheapdump.save_dump(directory / "outer.heapdump", threads=False)
    elapsed = time.perf_counter() - started
    time.sleep(0.2)  # a signal that arrived after the walk runs its handler now
    outer = local_of(load_quietly(path), "from_signal", "heap")
    report(outcomes=outcomes, seconds=elapsed, outer_length=len(outer), heap=len(heap),
           files=sorted(p.name for p in directory.iterdir()))


def from_thread(directory: Path) -> None:
    heap = large_heap()
    requested = threading.Event()
    outcome: list[str] = []

    def second_dump() -> None:
        requested.set()
        started = time.perf_counter()
        try:
            pyheapdump.save_dump(directory / "from-thread.heapdump", threads=True)
            outcome.append(f"written after {time.perf_counter() - started:.2f}s")
        except Exception as error:  # noqa: BLE001 - reported
            outcome.append(f"{type(error).__name__}: {error}")

    other = threading.Thread(target=second_dump)
    other.start()
    requested.wait()
    path = pyheapdump.save_dump(directory / "first.heapdump", threads=True)
    other.join(120)
    first = local_of(load_quietly(path), "from_thread", "heap")
    second = load_quietly(directory / "from-thread.heapdump") if (directory / "from-thread.heapdump").exists() else None
    report(outcome=outcome, alive=other.is_alive(), first_length=len(first), heap=len(heap),
           second_threads=len(second.threads) if second else 0)


def main() -> int:
    scenario, directory, *args = sys.argv[1:]
    where = Path(directory)
    if scenario == "mutate":
        mutate(where, int(args[0]))
    elif scenario == "hostile":
        hostile(where)
    elif scenario == "deep":
        deep(where, int(args[0]))
    elif scenario == "load-deep":
        load_deep(args[0])
    elif scenario == "big":
        big(where, int(args[0]))
    elif scenario == "lowmem":
        lowmem(where, int(args[0]), *args[1:])
    elif scenario == "records":
        records(where, int(args[0]))
    elif scenario == "lowmem-load":
        lowmem_load(args[0], int(args[1]))
    elif scenario == "lowmem-records":
        lowmem_records(args[0], int(args[1]))
    elif scenario == "lowmem-cli":
        return lowmem_cli(int(args[0]), args[1:])
    elif scenario == "signal":
        from_signal(where)
    elif scenario == "thread":
        from_thread(where)
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
