"""A program holding the standard values a debugger user reads every day, defined by the program itself where that
is how real programs have them (enums, namedtuples), then dumping itself.

argv: DUMP_PATH. `scene()` keeps the values as locals and dumps from inside them.
"""

import collections
import datetime
import enum
import functools
import json
import re
import sys
import typing
import weakref
import zoneinfo

import pyheapdump


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 3


class Perm(enum.Flag):
    R = 1
    W = 2
    X = 4


class Mode(enum.IntFlag):
    READ = 4
    WRITE = 2


class Shade(enum.StrEnum):
    DARK = "dark"
    LIGHT = "light"


Point = collections.namedtuple("Point", "x y")


class Pair(typing.NamedTuple):
    left: int
    right: str = "r"


SIDE_EFFECTS = []  # every piece of the program's own code that the dump ran appends here


class Loud(enum.Enum):
    """An enum whose own code (repr, a property, _missing_) records that it ran: dumping must not call it."""

    ONE = 1

    def __repr__(self):
        SIDE_EFFECTS.append("Loud.__repr__")
        return "loud"

    @property
    def label(self):
        SIDE_EFFECTS.append("Loud.label")
        return "label"

    @classmethod
    def _missing_(cls, value):
        SIDE_EFFECTS.append("Loud._missing_")
        return None


class LoudPoint(collections.namedtuple("LoudPoint", "a b")):
    __slots__ = ()

    def __repr__(self):
        SIDE_EFFECTS.append("LoudPoint.__repr__")
        return "loud point"


class LoudRef(weakref.ref):
    def __call__(self):
        SIDE_EFFECTS.append("LoudRef.__call__")
        return None


class Node:
    def __init__(self, label):
        self.label = label


def scene(path):
    color = Color.GREEN
    priority = Priority.HIGH
    perm = Perm.R | Perm.W
    mode = Mode.READ | Mode.WRITE
    shade = Shade.DARK
    paris = datetime.datetime(2024, 7, 1, 14, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    new_york = datetime.datetime(2024, 1, 15, 9, 5, tzinfo=zoneinfo.ZoneInfo("America/New_York"))
    point = Point(1, 2)
    pair = Pair(7, "seven")
    buffer = bytearray(b"hello world")
    view = memoryview(buffer)[0:5]
    match = re.search(r"(?P<word>w[a-z]+)(\d*)", "hello world42")
    alive = Node("alive")
    live_ref = weakref.ref(alive)
    dead_ref = weakref.ref(Node("gone"))
    proxy = weakref.proxy(alive)
    cache = weakref.WeakValueDictionary({"alive": alive})
    keyed = weakref.WeakKeyDictionary({alive: "value of alive"})
    members = weakref.WeakSet([alive])
    loud = Loud.ONE
    loud_point = LoudPoint(3, 4)
    loud_ref = LoudRef(alive)
    # A weak reference its own referent leads back to, through objects loaded whole (a partial is made from its
    # reduce): the reference must be made before its referent is finished.
    looped = functools.partial(max, "looped")
    looped.back = weakref.ref(looped)
    looped_ref = looped.back
    registry = weakref.WeakValueDictionary()
    looped_value = functools.partial(max, registry)
    registry["self"] = looped_value
    pyheapdump.save_dump(path)
    return (color, priority, perm, mode, shade, paris, new_york, point, pair, view, match, live_ref, dead_ref,
            proxy, cache, keyed, members, loud, loud_point, loud_ref, looped, looped_ref, registry)


if __name__ == "__main__":
    scene(sys.argv[1])
    print(json.dumps({"side_effects": SIDE_EFFECTS}))
