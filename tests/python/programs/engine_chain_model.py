"""The importable half of engine_surrogate_chain.py: a trusted load that finds this module makes real Knots, whose
own __setstate__ it calls with their state, and which derive a count from it."""

import enum


class Tier(enum.IntEnum):
    LOW = 1
    HIGH = 2


def count_leaves(level):
    """What a Knot derives from its level when it is a list of rows (lists): their values, counted."""
    return sum(len(row) for row in level) if isinstance(level, list) else None


class Knot(str):
    __slots__ = ("next", "level", "leaves")

    def __setstate__(self, state):
        for part in state:
            for name, value in (part or {}).items():
                object.__setattr__(self, name, value)
        # Derived from the state as it is set, as a cache a real class rebuilds: it needs the rows filled by now.
        object.__setattr__(self, "leaves", count_leaves(getattr(self, "level", None)))
