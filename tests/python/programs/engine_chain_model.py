"""The importable half of engine_surrogate_chain.py: a trusted load that finds this module makes real Knots, whose
own __setstate__ it calls with their state."""

import enum


class Tier(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Knot(str):
    __slots__ = ("next", "level")

    def __setstate__(self, state):
        for part in state:
            for name, value in (part or {}).items():
                object.__setattr__(self, name, value)
