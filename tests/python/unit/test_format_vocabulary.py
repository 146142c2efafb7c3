"""The format's vocabulary has one source in code, native/format.h's enums that pyheapdump._native exports and the
Python side reads; docs/format.md is the one other place that states it, for readers of the file, and must agree."""

from __future__ import annotations

import re
from pathlib import Path

from pyheapdump import _native
from pyheapdump.dump import policy
from pyheapdump.load import records

FORMAT_DOC = (Path(__file__).resolve().parents[3] / "docs" / "format.md").read_text()


def test_the_kinds_table_of_the_format_document_is_the_cores_record_kinds() -> None:
    table = {int(number): name for number, name in re.findall(r"^\| (\d+) \| ([A-Z]+) \|", FORMAT_DOC, re.M)}
    exported = {int(kind): kind.name for kind in _native.Kind if kind is not _native.Kind.ROOT}
    assert table == exported, "docs/format.md's Kinds table and native/format.h's enum class Kind disagree"


def test_the_format_document_names_every_record_flag_at_its_bit() -> None:
    for flag in _native.RecordFlag:
        bit = int(flag).bit_length() - 1
        assert re.search(rf"bit {bit} {flag.name}\b", FORMAT_DOC), f"docs/format.md does not give {flag.name} bit {bit}"


def test_the_format_document_lists_the_cut_reasons_by_number() -> None:
    listed = re.search(r"^Cut reasons: (.*)$", FORMAT_DOC, re.M)
    assert listed, "docs/format.md has no 'Cut reasons:' line"
    for reason in _native.CutReason:
        assert f"{int(reason)} {reason.name.lower()}" in listed.group(1), f"cut reason {reason.name} not documented"


def test_the_loader_and_the_policy_use_the_exported_numbers() -> None:
    # A record the core decodes carries these ints: the loader dispatches on them, the walker on the strategies.
    assert records.LIST == _native.Kind.LIST and records.SURROGATE == _native.Kind.SURROGATE
    assert records.CUT_REASONS[int(_native.CutReason.TIME_LIMIT)] == "time_limit"
    assert (policy.INSTANCE, policy.REDUCE, policy.CAPTURE, policy.SURROGATE) == tuple(_native.Strategy)
