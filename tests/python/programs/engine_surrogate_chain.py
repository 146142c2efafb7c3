"""A chain of instances of a str subclass with __slots__, each dumped as a reduce whose state is a (None, slots)
tuple, the first link made holding an IntEnum member, in the local `head`: Links (the program's own class: surrogates
in a safe load), or Knots (engine_chain_model's, with a __setstate__ of their own: real in a trusted load where that
module is found); or, with "grid", Knots whose every level is a list of rows, [[index], [index, index]], from which
their __setstate__ derives a count.

argv: PATH LENGTH link|knot|grid. Prints a JSON line with the dump's path.
"""

import enum
import json
import sys

from engine_chain_model import Knot, Tier, count_leaves

import pyheapdump


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Link(str):
    __slots__ = ("next", "level")


def chain(cls, length, level_of):
    head = None
    for index in range(length):
        link = cls(f"link{index}")
        link.next = head
        link.level = level_of(index)
        if cls is Knot:
            link.leaves = count_leaves(link.level)
        head = link
    return head


def main(path, length, kind):
    if kind == "link":
        head = chain(Link, length, lambda index: Level.HIGH if index == 0 else None)
    elif kind == "knot":
        head = chain(Knot, length, lambda index: Tier.HIGH if index == 0 else None)
    else:
        head = chain(Knot, length, lambda index: [[index], [index, index]])
    return {"path": pyheapdump.save_dump(path, threads=False), "head": str(head)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), sys.argv[3])))
