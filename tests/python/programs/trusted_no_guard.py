"""A script WITHOUT a main guard: its top level does the whole job (logs a line, builds objects, dumps).

It takes no arguments: it appends one line to `top-level.log` next to itself, dumps to `no_guard.heapdump` there,
and, when a file named `hang` is there too, then blocks forever, like a service loop. So a loader that ran this
module's code would log a second line, dump over the file it is loading, and (with `hang`) never return.
A trusted load must rebuild the classes and functions below from the dump without running any of this.
"""

import dataclasses
import functools
import pathlib
import threading

import pyheapdump

HERE = pathlib.Path(__file__).resolve().parent
DUMP_PATH, LOG_PATH = HERE / "no_guard.heapdump", HERE / "top-level.log"
with open(LOG_PATH, "a") as log:
    log.write("top level ran\n")

SCALE = 3


def double(value):
    return value * 2


def make_counter(start):
    count = [start]

    def bump(step=1):
        count[0] += step
        return count[0]

    return bump


class Shape:
    kind = "shape"

    def __init__(self, name, sides):
        self.name = name
        self.sides = sides

    def describe(self, prefix="a"):
        return f"{prefix} {self.name} with {self.sides} sides"

    @property
    def doubled_sides(self):
        return double(self.sides)

    @classmethod
    def unit(cls):
        return cls("unit", 1)

    @staticmethod
    def scaled(value):
        return value * SCALE

    def __repr__(self):
        return f"Shape({self.name!r}, {self.sides})"

    def __len__(self):
        return self.sides


class Square(Shape):
    kind = "square"

    def __init__(self, side):
        super().__init__("square", 4)
        self.side = side

    def area(self):
        return self.side ** 2

    def describe(self, prefix="a"):
        return super().describe(prefix) + f" of side {self.side}"

    @functools.cached_property
    def perimeter(self):
        return 4 * self.side


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0
    tags: list = dataclasses.field(default_factory=list)

    def norm1(self):
        return abs(self.x) + abs(self.y)


class Slotted:
    __slots__ = ("left", "right")

    def total(self):
        return self.left + self.right


def outer():
    class Local:
        def answer(self):
            return 42

    return Local()


generated = eval("lambda value: value + 1")  # code without a source file: a load cannot rebuild it

shape = Shape("triangle", 3)
slotted = Slotted()
slotted.left, slotted.right = 2, 5
local = outer()
square = Square(5)
point = Point(3, -4, ["a"])
counter = make_counter(10)
counter()
pyheapdump.save_dump(DUMP_PATH)
print("dumped", flush=True)
if (HERE / "hang").exists():
    threading.Event().wait()  # a service loop: a loader that ran this would never return
