"""Damaged dumps: truncated at every chunk boundary and at random offsets, with random bytes flipped or overwritten.

Each damaged file is loaded the way a user loads it (read_header, then load_dump, in a separate process, one case
after another with its own watchdog): it must never crash the process, hang, or raise anything but a DumpError; a
file that loads without a DumpLoadWarning must show exactly what the intact file shows; one that loads with
warnings may hide lost parts behind surrogates but must not show any value that differs from the intact dump's.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from trust_support import CaseResult, chunk_offsets, random_offsets, run_cases, write_seed_dumps, wrong_values

ALLOWED_OUTCOMES = {"loaded", "DumpFormatError"}


@pytest.fixture(scope="module")
def intact_dumps(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    directory = tmp_path_factory.mktemp("intact")
    return [path for path in write_seed_dumps(directory) if path.name != "truncated.heapdump"]


@pytest.fixture(scope="module")
def intact_results(intact_dumps: list[Path]) -> dict[str, CaseResult]:
    results = run_cases([(path.name, path) for path in intact_dumps])
    for result in results.values():
        assert result.outcome == "loaded" and result.warnings == 0, result.describe()
    return results


def _write_cases(directory: Path, intact: list[Path], damage: dict[str, bytes]) -> list[tuple[str, Path]]:
    cases = []
    for name, data in damage.items():
        path = directory / (name.replace("/", "_").replace(" ", "_") + ".heapdump")
        path.write_bytes(data)
        cases.append((name, path))
    return cases


def _check(results: dict[str, CaseResult], intact: dict[str, CaseResult], expected: int) -> dict[str, int]:
    assert len(results) == expected
    failures = []
    tally = {"clean": 0, "partial": 0, "refused": 0}
    for name, result in results.items():
        original = intact[name.split("/")[0]].fingerprint
        if result.outcome not in ALLOWED_OUTCOMES:
            failures.append(result.describe())
        elif result.outcome == "loaded" and result.warnings == 0:
            tally["clean"] += 1
            if result.fingerprint != original:
                failures.append(f"{name}: loaded without a warning, but differs from the intact dump")
        elif result.outcome == "loaded":
            tally["partial"] += 1
            failures += [f"{name}: {problem}" for problem in wrong_values(result.fingerprint, original)]
        else:
            tally["refused"] += 1
    assert not failures, "\n".join(failures[:20])
    return tally


def test_truncation_at_every_chunk_boundary_and_random_offsets_loads_what_is_intact_or_refuses(
        intact_dumps: list[Path], intact_results: dict[str, CaseResult], tmp_path: Path) -> None:
    damage = {}
    for path in intact_dumps:
        data = path.read_bytes()
        cuts = set()
        for offset in chunk_offsets(data):
            cuts.update({offset, offset + 1, offset + 8, offset + 16, offset + 17})  # before, in the header, in data
        cuts.update(random_offsets(len(data), 15, seed=len(data)))
        cuts.update({0, 5, 16, len(data) - 1, len(data) - 24})
        for cut in sorted(c for c in cuts if 0 <= c < len(data)):
            damage[f"{path.name}/truncated at {cut}"] = data[:cut]
    cases = _write_cases(tmp_path, intact_dumps, damage)
    tally = _check(run_cases(cases), intact_results, len(cases))
    # Every dump was cut inside its records, so some loads are partial, and some cuts leave nothing to load.
    assert tally["partial"] > 0 and tally["refused"] > 0, tally


def test_random_byte_flips_never_change_a_value_without_a_warning(
        intact_dumps: list[Path], intact_results: dict[str, CaseResult], tmp_path: Path) -> None:
    damage = {}
    for path in intact_dumps:
        data = path.read_bytes()
        rng = random.Random(path.name)
        for offset in random_offsets(len(data), 30, seed=len(data) + 1):
            flipped = bytearray(data)
            flipped[offset] ^= rng.randrange(1, 256)
            damage[f"{path.name}/byte {offset} flipped"] = bytes(flipped)
        for offset in random_offsets(len(data) - 16, 5, seed=len(data) + 2):
            overwritten = bytearray(data)
            overwritten[offset:offset + 16] = rng.randbytes(16)
            damage[f"{path.name}/16 bytes at {offset} overwritten"] = bytes(overwritten)
        # the framing itself: each chunk header's kind, sizes and crc, and the footer's summary offset
        for offset in chunk_offsets(data):
            for field in range(0, 16, 4):
                forged = bytearray(data)
                forged[offset + field:offset + field + 4] = b"\xff\xff\xff\x7f"
                damage[f"{path.name}/field {field} of the header at {offset} forged"] = bytes(forged)
    cases = _write_cases(tmp_path, intact_dumps, damage)
    tally = _check(run_cases(cases), intact_results, len(cases))
    assert tally["partial"] > 0, tally


def test_chunks_swapped_load_the_same_and_a_duplicated_chunk_is_reported(
        intact_dumps: list[Path], intact_results: dict[str, CaseResult], tmp_path: Path) -> None:
    damage = {}
    for path in intact_dumps:
        data = path.read_bytes()
        offsets = chunk_offsets(data)
        chunks = [data[start:end] for start, end in zip(offsets, offsets[1:], strict=False)]
        if len(chunks) < 3:
            continue
        body = data[:offsets[0]]
        swapped = chunks[:1] + [chunks[2], chunks[1]] + chunks[3:]
        damage[f"{path.name}/chunks 1 and 2 swapped"] = body + b"".join(swapped) + data[offsets[-1]:]
        doubled = chunks[:2] + chunks[1:]
        damage[f"{path.name}/chunk 1 duplicated"] = body + b"".join(doubled) + data[offsets[-1]:]
    cases = _write_cases(tmp_path, intact_dumps, damage)
    results = run_cases(cases)
    # Records are found by id, not by position: swapped chunks load exactly as the intact dump (checked by _check).
    _check(results, intact_results, len(cases))
    # A duplicated chunk moves the summary away from where the footer says it is: the load says so.
    duplicated = [result for name, result in results.items() if name.endswith("duplicated")]
    assert duplicated and all(result.warnings > 0 for result in duplicated), [r.describe() for r in duplicated]
