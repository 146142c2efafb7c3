"""Dumps one of the heaps that cost the loader the most memory per byte of the file's records.

    python trust_memory_scene.py DUMP_PATH refs|ints|dicts

refs: a list of a million references to a thousand objects (a few bytes each in the file, a Python int and two list
slots each when loaded); ints: a million distinct ints; dicts: 200,000 small dicts. Prints the dump's path.
"""

from __future__ import annotations

import sys

import pyheapdump


def scene(kind: str) -> object:
    if kind == "refs":
        shared = [object() for _ in range(1000)]
        return [shared[i % 1000] for i in range(1_000_000)]
    if kind == "ints":
        return list(range(1000, 1_001_000))
    return [{"a": i, "b": [i]} for i in range(200_000)]


if __name__ == "__main__":
    heap = scene(sys.argv[2])
    print(pyheapdump.save_dump(sys.argv[1], frame=sys._getframe(), threads=False))
