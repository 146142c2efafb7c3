"""atheris target on pyheapdump.load_dump: a file from elsewhere may fail to load, but only with a DumpError.

    python fuzz/load_dump_fuzzer.py CORPUS_DIR [SEED_DIR] [libFuzzer flags]   (fuzz/run.sh runs it)

Each input is written to one file in memory (/dev/shm when it exists) and loaded safely, then read_header is
called and the loaded model is walked (threads, frames, locals, reprs): a DumpError or a DumpLoadWarning is an
answer; any other exception (DumpMemoryError too: a small input must not exhaust memory), a crash or a hang is a
finding. The mutator knows the chunk framing (see
mutate_inside_chunk), so mutated records reach the loader intact instead of being stopped by the crc32.
"""

from __future__ import annotations

import os
import random
import reprlib
import struct
import sys
import tempfile
import warnings
import zlib
from typing import Any

import atheris

with atheris.instrument_imports(include=["pyheapdump"]):
    import pyheapdump
    from pyheapdump.load.loader import DumpLoadWarning

PREAMBLE_SIZE = 16
CHUNK_HEADER = struct.Struct("<IIII")  # kind, stored_size, raw_size, crc32
FOOTER_SIZE = 24
FOOTER_MAGIC = b"PHDEND\0\0"
MAX_MUTATED_RAW = 4 << 20

_directory = "/dev/shm" if os.path.isdir("/dev/shm") else None
_fd, INPUT_PATH = tempfile.mkstemp(suffix=".heapdump", dir=_directory)
os.close(_fd)
_short_repr = reprlib.Repr()
_short_repr.maxlevel = 3
_short_repr.maxstring = 80
_short_repr.maxother = 80


def walk_model(dump: pyheapdump.HeapDump) -> None:
    """Touches what a debugger front end touches first: threads, frames, code, locals and their reprs."""
    for thread in dump.threads:
        for frame in thread.frames:
            _short_repr.repr(frame)
            _short_repr.repr(frame.f_code.co_filename)
            for name, value in list(frame.f_locals.items())[:50]:
                _short_repr.repr(name)
                _short_repr.repr(value)
    for frame in dump.traceback:
        _short_repr.repr(frame)
    if dump.exception is not None:
        _short_repr.repr(dump.exception)
    for source in list(dump.sources.values())[:5]:
        source.splitlines()[:1]


def test_one_input(data: bytes) -> None:
    with open(INPUT_PATH, "wb") as file:
        file.write(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DumpLoadWarning)
        try:
            pyheapdump.read_header(INPUT_PATH)
        except pyheapdump.DumpMemoryError:
            raise  # a small input that exhausts memory is a size bomb the bounds missed: a finding
        except pyheapdump.DumpError:
            pass
        try:
            dump = pyheapdump.load_dump(INPUT_PATH)
        except pyheapdump.DumpMemoryError:
            raise
        except pyheapdump.DumpError:
            return
    walk_model(dump)


def follow_chunks(data: bytes) -> list[tuple[int, int, int, int]]:
    """(offset, kind, stored_size, raw_size) of each chunk found by following the headers from the preamble."""
    chunks = []
    offset = PREAMBLE_SIZE
    while offset + CHUNK_HEADER.size <= len(data):
        kind, stored, raw, _ = CHUNK_HEADER.unpack_from(data, offset)
        if stored > len(data) - offset - CHUNK_HEADER.size:
            break
        chunks.append((offset, kind, stored, raw))
        offset += CHUNK_HEADER.size + stored
    return chunks


def mutate_inside_chunk(data: bytes, max_size: int, rng: random.Random) -> bytes | None:
    """Decompresses one chunk, mutates its raw bytes, recompresses it and rewrites its header and the footer's
    summary offset; None when the input has no chunk that decompresses."""
    chunks = follow_chunks(data)
    if not chunks:
        return None
    offset, kind, stored, raw_size = rng.choice(chunks)
    if raw_size > MAX_MUTATED_RAW:
        return None
    start = offset + CHUNK_HEADER.size
    try:
        raw = zlib.decompress(data[start:start + stored])
    except zlib.error:
        return None
    mutated = atheris.Mutate(raw, len(raw) + len(raw) // 4 + 64)
    compressed = zlib.compress(mutated, 1)
    header = CHUNK_HEADER.pack(kind, len(compressed), len(mutated), zlib.crc32(compressed))
    out = bytearray(data[:offset] + header + compressed + data[start + stored:])
    if len(out) >= PREAMBLE_SIZE + FOOTER_SIZE and out.endswith(FOOTER_MAGIC):
        (summary,) = struct.unpack_from("<Q", out, len(out) - FOOTER_SIZE)
        if summary > offset:
            moved = (summary + len(compressed) - stored) % (1 << 64)  # a forged footer may point anywhere
            struct.pack_into("<Q", out, len(out) - FOOTER_SIZE, moved)
    return bytes(out) if len(out) <= max_size else None


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    if rng.randrange(3):
        mutated = mutate_inside_chunk(data, max_size, rng)
        if mutated is not None:
            return mutated
    return atheris.Mutate(data, max_size)


def main(argv: list[str]) -> Any:
    sys.setrecursionlimit(10_000)
    atheris.Setup(argv, test_one_input, custom_mutator=custom_mutator)
    try:
        atheris.Fuzz()
    finally:
        os.unlink(INPUT_PATH)


if __name__ == "__main__":
    main(sys.argv)
