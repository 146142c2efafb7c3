"""A chain of instances of a str subclass with __slots__ (each dumped as a reduce whose state is a (None, slots)
tuple, and loaded as a surrogate), the first one made holding an IntEnum member of the program.

argv: PATH LENGTH. Prints a JSON line with the dump's path.
"""

import enum
import json
import sys

import pyheapdump


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Link(str):
    __slots__ = ("next", "level")


def main(path, length):
    head = None
    for index in range(length):
        link = Link(f"link{index}")
        link.next = head
        link.level = Level.HIGH if index == 0 else None
        head = link
    return {"path": pyheapdump.save_dump(path, threads=False)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))
