"""Size bombs: small files that declare, or decompress to, far more than they hold are refused with a DumpFormatError
before the memory is spent (the loading process's peak memory is measured), and loading an honest dump costs a
bounded multiple of its declared decompressed size.

The bounds (README, "Reliability"): every chunk declares at most 64 MiB stored and 64 MiB raw, and at most 1032 raw
bytes per stored byte (deflate's own limit); a chunk that inflates past its declared size is cut off at that size;
the intact chunks together may declare at most 8 GiB (pyheapdump.load.dumpfile.MAX_TOTAL_RAW), checked before any record
is read; and every length inside a chunk is checked against the bytes left before anything is allocated. Loading then
holds at most about MEMORY_FACTOR bytes of Python objects per declared raw byte.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from engine_support import PROGRAMS, run_program
from trust_support import (
    RECORDS,
    chunk,
    crafted_dump,
    json_chunk,
    measure_load,
    record_bytes,
    varint,
)

from pyheapdump import read_header

# A refused bomb may cost the loader this much at most: the interpreter's own growth while reading a small file.
SMALL_MIB = 40
# Measured worst case: a list of distinct ints, ~14 bytes of Python objects per byte of records.
MEMORY_FACTOR = 20
LIST = 7


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_chunk_declaring_more_raw_bytes_than_zlib_can_make_is_refused_unread(tmp_path: Path) -> None:
    stored = zlib.compress(b"\x01" + bytes(100))
    path = _write(tmp_path, "lying.heapdump", crafted_dump([chunk(RECORDS, stored, 64 << 20)]))
    report = measure_load(path)
    assert report["outcome"] == "DumpFormatError"
    assert "more than zlib can make" in report["error"]
    assert report["peak_delta_mib"] < SMALL_MIB


@pytest.mark.parametrize("field", ["stored", "raw"])
def test_a_chunk_header_declaring_more_than_the_format_allows_is_refused(tmp_path: Path, field: str) -> None:
    stored = zlib.compress(b"\x01" + bytes(100))
    forged = bytearray(chunk(RECORDS, stored, 101))
    struct.pack_into("<I", forged, 4 if field == "stored" else 8, 0xFFFFFFF0)
    report = measure_load(_write(tmp_path, "huge.heapdump", crafted_dump([bytes(forged)])))
    assert report["outcome"] == "DumpFormatError"
    assert "over the format's limit" in report["error"] or "past the end of the file" in report["error"]
    assert report["peak_delta_mib"] < SMALL_MIB


def test_zlib_data_that_inflates_past_its_declared_size_is_cut_there(tmp_path: Path) -> None:
    # 200 MiB of zeros in 200 KB, declared as 1 MiB: inflating stops at the declared size.
    stored = zlib.compress(b"\x01" + bytes(200 << 20), 9)
    path = _write(tmp_path, "inflates.heapdump", crafted_dump([chunk(RECORDS, stored, 1 << 20)]))
    assert path.stat().st_size < 300_000
    report = measure_load(path)
    assert report["outcome"] == "DumpFormatError"
    assert "decompresses to more than its declared raw size" in report["error"]
    assert report["peak_delta_mib"] < SMALL_MIB


def test_chunks_that_honestly_declare_gigabytes_in_total_are_refused_before_any_is_inflated(tmp_path: Path) -> None:
    raw = b"\x01" + bytes((64 << 20) - 1)
    one = chunk(RECORDS, zlib.compress(raw, 9), len(raw))
    path = _write(tmp_path, "total.heapdump", crafted_dump([one] * 130))  # 8.1 GiB declared in an 8.5 MB file
    report = measure_load(path)
    assert report["outcome"] == "DumpFormatError"
    assert "over this reader's limit of 8589934592 bytes" in report["error"]
    assert report["peak_delta_mib"] < SMALL_MIB
    assert report["seconds"] < 30


@pytest.mark.parametrize("forged", ["blob length", "item count", "attribute count", "name length"])
def test_a_record_declaring_a_huge_length_or_count_is_refused_without_allocating_it(tmp_path: Path,
                                                                                  forged: str) -> None:
    if forged == "blob length":
        record = record_bytes(1, LIST, blob_lengths=(1 << 60, None, None))
    elif forged == "item count":
        record = record_bytes(1, LIST, items=varint(1 << 40) + b"\1\1\1")
    elif forged == "attribute count":
        record = record_bytes(1, LIST, attrs=varint(1 << 50) + b"\1a\1")
    else:
        record = record_bytes(1, LIST, attrs=b"\1" + varint(1 << 40) + b"abc\1")
    raw = b"\x01" + record
    path = _write(tmp_path, "record.heapdump", crafted_dump([json_chunk(RECORDS, raw)]))
    report = measure_load(path)
    assert report["outcome"] == "DumpFormatError"
    assert "no object could be recovered" in report["error"]
    assert "runs past" in report["error"] or "larger than" in report["error"] or "longer than" in report["error"]
    assert report["peak_delta_mib"] < SMALL_MIB


@pytest.mark.parametrize("which", ["header", "summary"])
def test_json_nested_deeper_than_the_parser_goes_is_a_format_error(tmp_path: Path, which: str) -> None:
    deep = b"[" * 200_000
    data = crafted_dump([], header=deep) if which == "header" else crafted_dump([], summary=b'{"a": ' + deep)
    report = measure_load(_write(tmp_path, "deep.heapdump", data))
    assert report["outcome"] == "DumpFormatError"
    assert f"the dump's {which} is not valid" in report["error"] or "no object could be recovered" in report["error"]


@pytest.mark.parametrize("scene", ["refs", "ints", "dicts"])
def test_loading_costs_a_bounded_multiple_of_the_declared_size(tmp_path: Path, scene: str) -> None:
    path = tmp_path / f"{scene}.heapdump"
    run_program("trust_memory_scene.py", path, scene, program_dir=PROGRAMS)
    declared_mib = read_header(path)["bytes"] / 2**20
    report = measure_load(path)
    assert report["outcome"] == "loaded" and report["warnings"] == 0, report
    assert report["peak_delta_mib"] <= MEMORY_FACTOR * declared_mib + SMALL_MIB, (declared_mib, report)


def _typed_record(oid: int, kind: int, type_id: int, items: bytes = b"\0") -> bytes:
    """A cereal-layout (format 1.0) record whose type is the record type_id, with no attributes or data."""
    return struct.pack("<QBQIQ", oid, kind, type_id, 0, 0) + struct.pack("<Q", len(items)) + items + \
        struct.pack("<Q", 1) + b"\0" + struct.pack("<Q", 0)


@pytest.mark.parametrize("shape", ["chain", "self"])
def test_records_whose_types_lead_on_and_on_load_without_crashing(tmp_path: Path, shape: str) -> None:
    # A list holding an instance whose type is another instance, whose type is another, ... 5,000 deep (or one
    # instance that is its own type). Each level made the loader's core and its Python handler call each other once
    # more: Python 3.13 ran out of C stack (a segfault) before its recursion limit said so.
    instance = 15
    last = 5001 if shape == "chain" else 2
    records = _typed_record(1, LIST, 0, items=varint(1) + b"\0" + varint(2))
    for oid in range(2, last + 1):
        records += _typed_record(oid, instance, oid + 1 if oid < last else oid)
    raw = b"\x01" + records
    path = tmp_path / f"{shape}.heapdump"
    path.write_bytes(crafted_dump([chunk(RECORDS, zlib.compress(raw), len(raw))]))
    report = measure_load(path)
    assert report["outcome"] in {"loaded", "DumpFormatError"}, report
