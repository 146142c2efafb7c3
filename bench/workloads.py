"""The benchmark's workloads: how each one is built, and how a loaded copy is checked.

The classes live here (not in benchmark.py, which runs as `__main__`) so that pickle can
find them again as `workloads.Node` / `workloads.Record` in the process that loads.

The checks read a loaded workload only through attribute access, `len`, indexing and `==`,
so they work the same on real objects, on pyheapdump surrogates (safe loading keeps the
benchmark's classes as surrogates) and on coredumpy's proxies. A check returns the list of
problems it found; an empty list means the round trip kept the data.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
from collections.abc import Callable
from typing import Any

FULL_SIZES: dict[str, int] = {
    "list-ints": 1_000_000,
    "dict-str-lists": 100_000,
    "linked-instances": 100_000,
    "dataclass-records": 20_000,
    "service-records": 1_000_000,
}

# Small enough that the whole --quick run (every tool, every workload) takes seconds.
QUICK_SIZES: dict[str, int] = {
    "list-ints": 20_000,
    "dict-str-lists": 2_000,
    "linked-instances": 2_000,
    "dataclass-records": 500,
    "service-records": 20_000,
}

TITLES: dict[str, str] = {
    "list-ints": "list of {n:,} small ints (distinct int objects)",
    "dict-str-lists": "dict of {n:,} str keys -> 3-int lists",
    "linked-instances": "{n:,} plain instances, each linked to the next and to one shared object",
    "dataclass-records": "{n:,} dataclass records (datetime, Decimal, str, list of ints, nested dict)",
    "service-records": "dict of {n:,} str keys -> {{id, score, name}} dicts (3 objects per entry)",
}

_KINDS = ("alpha", "beta", "gamma")
_EPOCH = datetime.datetime(2024, 1, 1, 12, 0, 0)


class SharedState:
    """The one object every Node refers to."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.generation = 7


class Node:
    """A plain instance: a link to the next node, a link to the shared object, two scalars."""

    def __init__(self, index: int, shared: SharedState) -> None:
        self.index = index
        self.weight = index * 0.5
        self.shared = shared
        self.next: Node | None = None


@dataclasses.dataclass
class Record:
    name: str
    when: datetime.datetime
    amount: decimal.Decimal
    values: list[int]
    meta: dict[str, Any]


def build_list_ints(n: int) -> list[int]:
    return list(range(n))


def build_dict_str_lists(n: int) -> dict[str, list[int]]:
    return {f"key-{i}": [i, i + 1, i + 2] for i in range(n)}


def build_linked_instances(n: int) -> list[Node]:
    shared = SharedState("shared-state")
    nodes = [Node(i, shared) for i in range(n)]
    for current, following in zip(nodes, nodes[1:], strict=False):
        current.next = following
    return nodes


def make_record(i: int) -> Record:
    return Record(
        name=f"record-{i:06d}",
        when=_EPOCH + datetime.timedelta(seconds=i, microseconds=i % 1000),
        amount=decimal.Decimal(f"{i // 100}.{i % 100:02d}"),
        values=[i, i * 2, i * 3, i * 5, i * 7],
        meta={"index": i, "tags": {"kind": _KINDS[i % 3], "level": i % 7}},
    )


def build_dataclass_records(n: int) -> list[Record]:
    return [make_record(i) for i in range(n)]


def build_service_records(n: int) -> dict[str, dict[str, Any]]:
    return {f"key-{i}": {"id": i, "score": i * 0.5, "name": f"n{i}"} for i in range(n)}


BUILDERS: dict[str, Callable[[int], Any]] = {
    "list-ints": build_list_ints,
    "dict-str-lists": build_dict_str_lists,
    "linked-instances": build_linked_instances,
    "dataclass-records": build_dataclass_records,
    "service-records": build_service_records,
}


def sample_indices(n: int) -> list[int]:
    """A few fixed positions spread over the workload: both ends and the middle."""
    return sorted({i for i in (0, 1, n // 3, n // 2, (2 * n) // 3, n - 2, n - 1) if 0 <= i < n})


def _length_problem(loaded: Any, n: int) -> str | None:
    try:
        length = len(loaded)
    except TypeError:
        return f"loaded workload is a {type(loaded).__name__!r} without a length"
    if length != n:
        return f"loaded {length} items, expected {n}"
    return None


def check_list_ints(loaded: Any, n: int) -> list[str]:
    problem = _length_problem(loaded, n)
    if problem:
        return [problem]
    if loaded == list(range(n)):
        return []
    return [f"item {i} is {loaded[i]!r}, expected {i}" for i in sample_indices(n) if loaded[i] != i] or [
        "loaded list differs from the original"
    ]


def check_dict_str_lists(loaded: Any, n: int) -> list[str]:
    problem = _length_problem(loaded, n)
    if problem:
        return [problem]
    problems = []
    keys = list(loaded)
    for i in sample_indices(n):
        key = f"key-{i}"
        if keys[i] != key:
            problems.append(f"key at position {i} is {keys[i]!r}, expected {key!r} (order lost)")
        elif list(loaded[key]) != [i, i + 1, i + 2]:
            problems.append(f"value of {key!r} is {loaded[key]!r}, expected {[i, i + 1, i + 2]!r}")
    return problems


def check_linked_instances(loaded: Any, n: int) -> list[str]:
    problem = _length_problem(loaded, n)
    if problem:
        return [problem]
    nodes = [loaded[i] for i in range(n)]
    shared = nodes[0].shared
    if getattr(shared, "name", None) != "shared-state":
        return [f"shared object lost its name: {shared!r}"]
    # Identity is the point of this workload: every link must lead to the very object
    # that the list holds at the next position, and every node to the same shared object.
    for i, node in enumerate(nodes):
        expected_next = nodes[i + 1] if i + 1 < n else None
        if node.next is not expected_next:
            return [f"node {i}.next is {node.next!r}, not the next node in the list (identity lost)"]
        if node.shared is not shared:
            return [f"node {i}.shared is not the shared object (identity lost)"]
    return [
        f"node {i} has index={nodes[i].index!r} weight={nodes[i].weight!r}"
        for i in sample_indices(n)
        if nodes[i].index != i or nodes[i].weight != i * 0.5
    ]


_DATETIME_FIELDS = ("year", "month", "day", "hour", "minute", "second", "microsecond")


def _datetime_fields(value: Any) -> tuple[Any, ...]:
    """A datetime's fields, read by attribute so a tool's proxy of a datetime compares too."""
    return tuple(getattr(value, field, None) for field in _DATETIME_FIELDS)


def _record_problems(index: int, got: Any, want: Record) -> list[str]:
    problems = []
    for field in ("name", "amount", "meta"):
        got_value, want_value = getattr(got, field, None), getattr(want, field)
        if got_value != want_value:
            problems.append(f"record {index}.{field} is {got_value!r}, expected {want_value!r}")
    values = getattr(got, "values", None)
    if values is None or list(values) != want.values:
        problems.append(f"record {index}.values is {values!r}, expected {want.values!r}")
    if _datetime_fields(getattr(got, "when", None)) != _datetime_fields(want.when):
        problems.append(f"record {index}.when is {getattr(got, 'when', None)!r}, expected {want.when!r}")
    return problems


def check_dataclass_records(loaded: Any, n: int) -> list[str]:
    problem = _length_problem(loaded, n)
    if problem:
        return [problem]
    problems: list[str] = []
    for i in sample_indices(n):
        problems.extend(_record_problems(i, loaded[i], make_record(i)))
    return problems


def _not_dumped(value: Any) -> bool:
    """A pyheapdump placeholder of a value a limit left out (read off its class, so any tool's object passes)."""
    return getattr(type(value), "__pyheapdump_cut_limit__", None) is not None


def check_service_records(loaded: Any, n: int) -> list[str]:
    """Every entry is there; a value a limit left out may be a placeholder, but no kept value may differ."""
    problem = _length_problem(loaded, n)
    if problem:
        return [problem]
    entries = list(loaded.items())
    problems = []
    for i in sample_indices(n):
        key, record = entries[i]
        if not _not_dumped(key) and key != f"key-{i}":
            problems.append(f"key at position {i} is {key!r}, expected 'key-{i}'")
        if _not_dumped(record):
            continue
        want = {"id": i, "score": i * 0.5, "name": f"n{i}"}
        if len(record) != len(want):
            problems.append(f"record {i} has {len(record)} fields, expected 3: {record!r}")
        for field, value in record.items():
            if not _not_dumped(field) and not _not_dumped(value) and value != want.get(field):
                problems.append(f"record {i}.{field} is {value!r}, expected {want.get(field)!r}")
    return problems


CHECKS: dict[str, Callable[[Any, int], list[str]]] = {
    "list-ints": check_list_ints,
    "dict-str-lists": check_dict_str_lists,
    "linked-instances": check_linked_instances,
    "dataclass-records": check_dataclass_records,
    "service-records": check_service_records,
}
