"""The format's vocabulary has one source, the C++ enums that pyheapdump._native exports; until the Python modules
read it from there, their copies must say the same (issue 9)."""

from __future__ import annotations

import enum

from pyheapdump import _load, _native, _policy


def test_record_kinds_are_the_loaders_numbers() -> None:
    assert issubclass(_native.Kind, enum.IntEnum)
    assert _native.Kind.ROOT == 1
    for kind in _native.Kind:
        if kind is not _native.Kind.ROOT:
            assert getattr(_load, kind.name) == kind, kind.name
    # The loader's kinds are range(2, 28): every one of them is a kind of the format, and none is missing.
    assert [int(kind) for kind in _native.Kind][1:] == list(range(2, 28))


def test_record_flags_are_the_loaders_flags() -> None:
    assert issubclass(_native.RecordFlag, enum.IntFlag)
    assert {flag.name: int(flag) for flag in _native.RecordFlag} == {
        name.removeprefix("FLAG_"): value for name, value in vars(_load).items() if name.startswith("FLAG_")
    }


def test_cut_reasons_are_the_loaders_reasons() -> None:
    assert {int(reason): reason.name.lower() for reason in _native.CutReason} == _load.CUT_REASONS


def test_walker_strategies_are_the_policys_numbers() -> None:
    assert {strategy.name: int(strategy) for strategy in _native.Strategy} == {
        name: getattr(_policy, name) for name in ("INSTANCE", "REDUCE", "CAPTURE", "SURROGATE")
    }


def test_a_kind_number_from_a_record_names_its_kind() -> None:
    assert _native.Kind(7) is _native.Kind.LIST
    assert _native.RecordFlag(5) == _native.RecordFlag.TRUNCATED | _native.RecordFlag.CUT_ITEMS
