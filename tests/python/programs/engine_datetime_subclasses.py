"""Subclasses of date, datetime, time and timedelta, in the local `values` of `hold()`: the program's own (reduced
by the builtin's C reduce, in pickle's form, and one whose own __reduce__ the dump never runs) and pandas' Timedelta
(its reduce is pandas' own code) and Timestamp (reduced by a function of pandas') when pandas is installed.

argv: DUMP_PATH. Prints a JSON line: the dump's path, and per value its class and its value as its builtin prints it.
"""

import datetime
import json
import sys

import pyheapdump

try:
    import pandas as pd
except ImportError:  # the pandas values are left out; the test skips what needs them
    pd = None


class Deadline(datetime.datetime):
    pass


class Day(datetime.date):
    pass


class Span(datetime.timedelta):
    pass


class Alarm(datetime.time):
    pass


class Period(datetime.timedelta):
    def __reduce__(self):  # the program's own reduce: the dump never runs it
        raise RuntimeError("not picklable")


def as_builtin(value):
    """The value as the builtin it derives from prints it."""
    for builtin in (datetime.datetime, datetime.date, datetime.time, datetime.timedelta):
        if isinstance(value, builtin):
            return builtin.__str__(value)
    raise TypeError(value)


def hold(path):
    values = {
        "deadline": Deadline(2024, 5, 6, 7, 8, 9, 10, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
        "day": Day(2020, 2, 29),
        "span": Span(days=3, seconds=4, microseconds=5),
        "alarm": Alarm(1, 2, 3, 4),
        "period": Period(days=1, hours=2),
    }
    if pd is not None:
        values["pandas_timedelta"] = pd.Timedelta("1 day 2 hours")
        values["pandas_timestamp"] = pd.Timestamp("2024-01-02 03:04:05.123456", tz="UTC")
    seen = {name: {"class": type(value).__qualname__, "value": as_builtin(value)} for name, value in values.items()}
    return {"path": pyheapdump.save_dump(path, threads=False), "values": seen}


if __name__ == "__main__":
    print(json.dumps(hold(sys.argv[1])))
