"""Helpers for the trust tests (hostile, damaged and fuzzed dumps, dumping under stress).

Damaged files are loaded by tests/python/programs/trust_load_cases.py in a subprocess, many per process for speed;
each case announces itself before it starts, so a crash (a signal) or a hang (faulthandler's per-case timer) is
attributed to the case that caused it, and the remaining cases go on in a fresh process.
"""

from __future__ import annotations

import json
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine_support import PROGRAMS, REPO, child_env

PREAMBLE_SIZE = 16
CHUNK_HEADER = struct.Struct("<IIII")  # kind, stored_size, raw_size, crc32
FOOTER_SIZE = 24
SURROGATE = "<surrogate>"


@dataclass
class CaseResult:
    name: str
    outcome: str  # "loaded", a DumpError class name, "BUG", "CRASH" (a signal or exit status) or "HANG"
    warnings: int = 0
    error: str | None = None
    fingerprint: Any = None

    def describe(self) -> str:
        return f"{self.name}: {self.outcome} ({self.error or ''})"


def chunk_offsets(data: bytes) -> list[int]:
    """The offset of every chunk header, following docs/format.md's framing from the preamble, then the footer's."""
    offsets = []
    offset = PREAMBLE_SIZE
    while offset + CHUNK_HEADER.size <= len(data) - FOOTER_SIZE:
        _, stored, _, _ = CHUNK_HEADER.unpack_from(data, offset)
        offsets.append(offset)
        offset += CHUNK_HEADER.size + stored
    offsets.append(len(data) - FOOTER_SIZE)
    return offsets


def run_cases(cases: list[tuple[str, Path]], *, per_case: float = 30.0, total: float = 900.0,
              python: str | None = None) -> dict[str, CaseResult]:
    """Loads every (name, path) in subprocesses; returns each case's result by name."""
    results: dict[str, CaseResult] = {}
    remaining = list(cases)
    with tempfile.TemporaryDirectory() as scratch:
        while remaining:
            listing = Path(scratch) / "cases.json"
            listing.write_text(json.dumps([{"name": name, "path": os.fspath(path)} for name, path in remaining]))
            process = subprocess.run(
                [python or sys.executable, str(PROGRAMS / "trust_load_cases.py"), str(listing), str(per_case)],
                capture_output=True, text=True, timeout=total, env=child_env(), cwd=REPO, check=False)
            started = None
            for line in process.stdout.splitlines():
                if line.startswith("START "):
                    started = line[6:]
                elif line.startswith("RESULT "):
                    fields = json.loads(line[7:])
                    results[fields["name"]] = CaseResult(fields["name"], fields["outcome"], fields["warnings"],
                                                         fields["error"], fields["fingerprint"])
                    started = None
            done = {name for name, _ in remaining if name in results}
            if started is not None and started not in results:
                hung = "Timeout (" in process.stderr
                how = "HANG" if hung else "CRASH"
                status = process.returncode
                detail = f"signal {signal.Signals(-status).name}" if status < 0 else f"exit status {status}"
                results[started] = CaseResult(started, how, error=f"{detail}\n{process.stderr[-3000:]}")
                done.add(started)
            elif process.returncode != 0:
                raise AssertionError(f"the case runner failed outside any case:\n{process.stderr[-3000:]}")
            remaining = [(name, path) for name, path in remaining if name not in done]
    return results


def agrees(damaged: Any, original: Any) -> bool:
    """True when a value from a damaged dump is the original value, with lost parts shown as surrogates: damage may
    hide a value behind a surrogate, never change it."""
    if damaged == SURROGATE:
        return True
    if type(damaged) is not type(original):
        return False
    if isinstance(damaged, list):
        if len(damaged) == 2 and isinstance(damaged[0], str) and damaged[0] in {"set", "frozenset"}:
            # members are sorted JSON texts: equal, or of equal count when a member became a surrogate
            return damaged[1] == original[1] or (len(damaged[1]) == len(original[1]) and SURROGATE in str(damaged[1]))
        return len(damaged) == len(original) and all(agrees(d, o) for d, o in zip(damaged, original, strict=True))
    if isinstance(damaged, dict):
        return damaged.keys() == original.keys() and all(agrees(damaged[k], original[k]) for k in damaged)
    return damaged == original


def random_offsets(size: int, count: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return sorted(rng.sample(range(1, size), min(count, size - 1)))


def wrong_values(damaged: Any, original: Any) -> list[str]:
    """What a load of a damaged dump shows that differs from the intact dump's load, other than through a surrogate:
    for every frame it presents (matched by code name and line), every local it presents, and the exception."""
    problems = []
    originals = {thread[0]: thread for thread in original["threads"]}
    for name, _, frames in damaged["threads"]:
        match = originals.get(name)
        if match is None:
            continue  # a thread whose name record was lost has a placeholder name
        original_frames = {(qualname, line): local for qualname, line, local in match[2]}
        for qualname, line, local in frames:
            if qualname == "?":
                continue  # a frame whose code record was lost says so
            if (qualname, line) not in original_frames:
                problems.append(f"thread {name}: frame {qualname}:{line} is not in the intact dump")
                continue
            problems += _wrong_locals(f"{name}/{qualname}", local, original_frames[(qualname, line)])
    if damaged["exception"] is not None and not agrees(damaged["exception"], original["exception"]):
        problems.append(f"exception {damaged['exception']} != {original['exception']}")
    return problems


def _wrong_locals(where: str, damaged: Any, original: Any) -> list[str]:
    if damaged == SURROGATE:
        return []
    original_pairs = {json.dumps(key): value for key, value in original[1]}
    problems = []
    for key, value in damaged[1]:
        if key == SURROGATE:
            continue
        if json.dumps(key) not in original_pairs:
            problems.append(f"{where}: local {key} is not in the intact dump")
        elif not agrees(value, original_pairs[json.dumps(key)]):
            problems.append(f"{where}: local {key} = {value} != {original_pairs[json.dumps(key)]}")
    return problems


def write_seed_dumps(directory: Path) -> list[Path]:
    """Real dumps written by fuzz/make_seeds.py in a separate process: a crash with locals, nested containers, many
    threads, big strings over several chunks, cut objects, reduces and chained exceptions, and one cut short."""
    result = subprocess.run([sys.executable, str(REPO / "fuzz" / "make_seeds.py"), str(directory)],
                            capture_output=True, text=True, timeout=300, env=child_env(), cwd=directory, check=False)
    assert result.returncode == 0, result.stderr
    return sorted(directory.glob("*.heapdump"))


# ---- crafting files from the documented framing (docs/format.md) ----

PREAMBLE = b"PYHEAPDUMP\0\0" + struct.pack("<HH", 1, 0)
HEADER, RECORDS, SOURCES, SUMMARY = 1, 2, 3, 4


def chunk(kind: int, stored: bytes, raw_size: int, crc: int | None = None) -> bytes:
    """One chunk: its 16-byte header (declaring raw_size, which may lie) and its stored bytes."""
    return CHUNK_HEADER.pack(kind, len(stored), raw_size, zlib.crc32(stored) if crc is None else crc) + stored


def json_chunk(kind: int, text: bytes) -> bytes:
    return chunk(kind, zlib.compress(text), len(text))


def crafted_dump(chunks: list[bytes], header: bytes = b'{"format": "1.0", "threads": 0}',
                 summary: bytes = b'{"objects": 1, "root": 1}') -> bytes:
    """A file with a HEADER chunk, the given chunks, a SUMMARY chunk and a footer pointing at it."""
    body = PREAMBLE + json_chunk(HEADER, header) + b"".join(chunks)
    summary_offset = len(body)
    body += json_chunk(SUMMARY, summary)
    return body + struct.pack("<QQ", summary_offset, len(chunks) + 2) + b"PHDEND\0\0"


def record_bytes(oid: int, kind: int, items: bytes = b"\0", attrs: bytes = b"\0", data: bytes = b"",
                 blob_lengths: tuple[int | None, int | None, int | None] = (None, None, None)) -> bytes:
    """One record as cereal's portable binary archive writes it; a blob length may be forged."""
    out = struct.pack("<QBQIQ", oid, kind, 0, 0, 0)
    for blob, forged in zip((items, attrs, data), blob_lengths, strict=True):
        out += struct.pack("<Q", len(blob) if forged is None else forged) + blob
    return out


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def measure_load(path: Path, timeout: float = 600) -> dict[str, Any]:
    """Loads path in a fresh process (trust_measure_load.py): outcome, error, peak memory growth and time."""
    process = subprocess.run([sys.executable, str(PROGRAMS / "trust_measure_load.py"), str(path)],
                             capture_output=True, text=True, timeout=timeout, env=child_env(), check=False)
    assert process.returncode == 0, f"exit {process.returncode}\n{process.stderr[-3000:]}"
    return json.loads(process.stdout.splitlines()[-1])
