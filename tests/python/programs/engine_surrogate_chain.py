"""A chain of instances of a str subclass with __slots__, each dumped as a reduce whose state is a (None, slots)
tuple, the first link made holding an IntEnum member, in the local `head`: Links (the program's own class: surrogates
in a safe load), or Knots (engine_chain_model's, with a __setstate__ of their own: real in a trusted load where that
module is found).

argv: PATH LENGTH link|knot. Prints a JSON line with the dump's path.
"""

import enum
import json
import sys

from engine_chain_model import Knot, Tier

import pyheapdump


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Link(str):
    __slots__ = ("next", "level")


def chain(cls, member, length):
    head = None
    for index in range(length):
        link = cls(f"link{index}")
        link.next = head
        link.level = member if index == 0 else None
        head = link
    return head


def main(path, length, kind):
    head = chain(Link, Level.HIGH, length) if kind == "link" else chain(Knot, Tier.HIGH, length)
    return {"path": pyheapdump.save_dump(path, threads=False), "head": str(head)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), sys.argv[3])))
