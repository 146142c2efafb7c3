"""Truncated, corrupted and foreign files: the loader keeps every intact part and never crashes.

A real dump of several RECORDS chunks (tests/python/programs/engine_bulk.py) is cut and damaged in many ways; every
damaged copy is loaded in a subprocess (tests/python/programs/engine_load_outcomes.py), so a crash of the interpreter
shows as a signal in the return code instead of taking pytest down.
"""

from __future__ import annotations

import json
import os
import random
import struct
from pathlib import Path
from typing import Any

import pytest
from engine_support import PROGRAMS, run_program, run_python

import pyheapdump

PREAMBLE, CHUNK_HEADER, FOOTER = 16, 16, 24
HEADER, RECORDS, SOURCES, SUMMARY = 1, 2, 3, 4
ROWS = 45_000  # enough for 4+ RECORDS chunks of compact records


@pytest.fixture(scope="module")
def bulk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("bulk")
    run_program("engine_bulk.py", directory / "bulk.heapdump", ROWS, cwd=directory)
    return directory / "bulk.heapdump"


def chunks(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, kind, stored size) of every chunk, read by the layout docs/format.md gives."""
    found, offset = [], PREAMBLE
    while offset + CHUNK_HEADER <= len(data) - FOOTER:
        kind, stored, _, _ = struct.unpack_from("<IIII", data, offset)
        found.append((offset, kind, stored))
        offset += CHUNK_HEADER + stored
    return found


def load_outcomes(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Loads every file in one subprocess; fails the test if the interpreter died or the loader raised a bug."""
    result = run_python([PROGRAMS / "engine_load_outcomes.py", *paths])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    done = lines[-1]["file"] if lines else "none"
    assert result.returncode == 0, (f"the loader died with return code {result.returncode} after {done}\n"
                                    f"{result.stderr[-3000:]}")
    outcomes = {Path(line["file"]).name: line for line in lines}
    unexpected = {name: line for name, line in outcomes.items() if line["outcome"] == "unexpected"}
    assert not unexpected, json.dumps(unexpected, indent=1)[:6000]
    assert len(outcomes) == len(paths)
    return outcomes


def write_variant(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


def assert_one_line_reason(outcome: dict[str, Any]) -> None:
    assert outcome["outcome"] == "DumpFormatError", outcome
    assert outcome["message"].strip() and "\n" not in outcome["message"], outcome


def test_the_intact_dump_loads_without_warnings(bulk: Path) -> None:
    outcome = load_outcomes([bulk])[bulk.name]
    assert outcome["outcome"] == "loaded" and outcome["warnings"] == []
    assert outcome["rows"] == outcome["intact_rows"] == ROWS
    assert len([c for c in chunks(bulk.read_bytes()) if c[1] == RECORDS]) >= 4  # the premise of these tests


def test_a_dump_truncated_anywhere_loads_its_intact_part_or_says_in_one_line_why_not(bulk: Path,
                                                                                    tmp_path: Path) -> None:
    data = bulk.read_bytes()
    table = chunks(data)
    header_end = table[0][0] + CHUNK_HEADER + table[0][2]
    records = [c for c in table if c[1] == RECORDS]
    first_records_end = records[0][0] + CHUNK_HEADER + records[0][2]
    cuts = {0, 5, PREAMBLE, PREAMBLE + 7, header_end - 1, header_end, header_end + 9, first_records_end,
            len(data) - FOOTER, len(data) - 1}
    cuts |= {offset + CHUNK_HEADER + stored // 2 for offset, _, stored in records}  # inside every records chunk
    cuts |= {offset for offset, kind, _ in table if kind in (SOURCES, SUMMARY)}
    paths = {cut: write_variant(tmp_path, f"cut-{cut}.heapdump", data[:cut]) for cut in sorted(cuts)}
    outcomes = load_outcomes(list(paths.values()))
    for cut, path in paths.items():
        outcome = outcomes[path.name]
        if cut < first_records_end:
            # no whole chunk of objects: nothing to present
            assert_one_line_reason(outcome)
            continue
        # at least the first chunk of objects is whole: the program's frame is back, with a warning
        assert outcome["outcome"] == "loaded", (cut, outcome)
        assert outcome["warnings"], (cut, outcome)
        assert outcome["marker"] == "the bulk program's marker", (cut, outcome)
        assert outcome["rows"] == ROWS, (cut, outcome)  # the list itself sits in the first chunk


def test_truncation_inside_the_records_says_what_was_lost_and_keeps_the_rest(bulk: Path, tmp_path: Path) -> None:
    data = bulk.read_bytes()
    records = [c for c in chunks(data) if c[1] == RECORDS]
    middle = records[len(records) // 2]
    path = write_variant(tmp_path, "half.heapdump", data[:middle[0] + CHUNK_HEADER + 10])
    outcome = load_outcomes([path])[path.name]
    assert outcome["outcome"] == "loaded"
    assert 0 < outcome["intact_rows"] < ROWS
    assert any("truncated" in message or "lost" in message for message in outcome["warnings"]), outcome["warnings"]


def test_a_damaged_records_chunk_is_skipped_and_every_other_chunk_loads(bulk: Path, tmp_path: Path) -> None:
    data = bytearray(bulk.read_bytes())
    records = [c for c in chunks(bytes(data)) if c[1] == RECORDS]
    offset, _, stored = records[len(records) // 2]  # the rows' own names live here; their shared keys before
    data[offset + CHUNK_HEADER + stored // 2] ^= 0x5A  # the crc no longer matches
    path = write_variant(tmp_path, "flipped.heapdump", bytes(data))
    outcome = load_outcomes([path])[path.name]
    assert outcome["outcome"] == "loaded"
    assert any(f"offset {offset} is damaged" in warning for warning in outcome["dump_warnings"]), outcome
    assert outcome["marker"] == "the bulk program's marker"
    assert outcome["rows"] == ROWS
    assert 0 < outcome["intact_rows"] < ROWS  # the rows of the damaged chunk are placeholders
    placeholder = outcome["placeholder"]
    assert placeholder["reason"] == "lost in a damaged part of the file", placeholder
    assert "damaged chunk" in placeholder["detail"]


@pytest.mark.slow
def test_random_byte_flips_never_crash_the_loader(bulk: Path, tmp_path: Path) -> None:
    data = bulk.read_bytes()
    table = chunks(data)
    rng = random.Random(20240229)
    paths = []
    for index in range(30):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        paths.append(write_variant(tmp_path, f"random-{index}.heapdump", bytes(damaged)))
    # the framing itself: every field of the first chunk header of each kind and of a middle one, set to hostile
    # values
    kinds_seen: set[int] = set()
    for number, (offset, kind, _) in enumerate(table):
        if kind in kinds_seen and number != len(table) // 2:
            continue
        kinds_seen.add(kind)
        for field, value in ((0, 0xFFFFFFFF), (4, 0xFFFFFFFF), (8, 0xFFFFFFFF), (4, 0), (8, 0), (0, 99)):
            damaged = bytearray(data)
            struct.pack_into("<I", damaged, offset + field, value)
            paths.append(write_variant(tmp_path, f"chunk{number}-field{field}-{value}.heapdump", bytes(damaged)))
    footer = bytearray(data)
    struct.pack_into("<Q", footer, len(data) - FOOTER, 2**63)  # the summary's offset, far past the end
    paths.append(write_variant(tmp_path, "footer.heapdump", bytes(footer)))
    outcomes = load_outcomes(paths)
    for outcome in outcomes.values():
        if outcome["outcome"] == "DumpFormatError":
            assert_one_line_reason(outcome)


def test_a_file_with_a_damaged_magic_is_not_a_dump(bulk: Path, tmp_path: Path) -> None:
    path = write_variant(tmp_path, "magic.heapdump", b"PYHEAPDUMQ" + bulk.read_bytes()[10:])
    assert_one_line_reason(load_outcomes([path])[path.name])


def test_a_dump_of_an_unknown_major_version_is_refused_with_what_to_do(bulk: Path, tmp_path: Path) -> None:
    data = bytearray(bulk.read_bytes())
    struct.pack_into("<H", data, 12, 9)
    path = write_variant(tmp_path, "future.heapdump", bytes(data))
    outcome = load_outcomes([path])[path.name]
    assert_one_line_reason(outcome)
    assert "9." in outcome["message"] and "upgrade pyheapdump" in outcome["message"]


def test_files_that_are_not_dumps_raise_a_format_error(tmp_path: Path) -> None:
    candidates = {
        "empty.heapdump": b"",
        "text.heapdump": b"just some text, not a dump\n" * 10,
        "png.heapdump": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        "zeros.heapdump": bytes(4096),
        "magic-only.heapdump": b"PYHEAPDUMP\0\0\x01\0\0\0",
    }
    paths = [write_variant(tmp_path, name, data) for name, data in candidates.items()]
    directory = tmp_path / "a-directory.heapdump"
    directory.mkdir()
    outcomes = load_outcomes([*paths, directory])
    for outcome in outcomes.values():
        assert_one_line_reason(outcome)


def test_a_missing_file_raises_dump_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist.heapdump"
    with pytest.raises(pyheapdump.DumpNotFoundError) as raised:
        pyheapdump.load_dump(missing)
    assert str(raised.value) == f"no dump at {missing}: check the path"
    assert isinstance(raised.value, FileNotFoundError)
    with pytest.raises(pyheapdump.DumpNotFoundError, match="check the path"):
        pyheapdump.read_header(missing)
    (tmp_path / "a-file").write_text("a file where the path wants a directory")
    with pytest.raises(pyheapdump.DumpNotFoundError, match="check the path"):
        pyheapdump.load_dump(tmp_path / "a-file" / "below-a-file.heapdump")


def test_a_directory_raises_a_format_error_that_says_to_name_one_dump_in_it(tmp_path: Path) -> None:
    for read in (pyheapdump.load_dump, pyheapdump.read_header):
        with pytest.raises(pyheapdump.DumpFormatError) as raised:
            read(tmp_path)
        assert str(raised.value) == (f"{tmp_path} is a directory, not a dump: name one dump in it "
                                     f"(`pyheapdump info {tmp_path}` lists them)")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.heapdump"
    os.mkfifo(fifo)
    with pytest.raises(pyheapdump.DumpFormatError, match="is not a regular file, so not a dump"):
        pyheapdump.load_dump(fifo)


def test_the_header_of_a_truncated_dump_is_still_readable(bulk: Path, tmp_path: Path) -> None:
    data = bulk.read_bytes()
    records = [c for c in chunks(data) if c[1] == RECORDS]
    path = write_variant(tmp_path, "header-ok.heapdump", data[:records[1][0] + 5])
    header = pyheapdump.read_header(path)
    assert header["argv"][0].endswith("engine_bulk.py")
    assert header["format"] == "1.4"
    assert header["warnings"], "a truncated file's header says the file is damaged"
