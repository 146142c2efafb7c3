"""The values whose records a format change touched, in the local `values` of `hold()`: made by a reduce with only
arguments (datetimes, dates, times, timedeltas, Decimals, Fractions, UUIDs, complex numbers), with a zone or not,
shared or not, beside containers and a dataclass that hold them.

tests/python/data/format-1.3.heapdump is this program's dump as format 1.3 wrote it (pyheapdump at ddbe9ef, CPython
3.11): test_format_compatibility loads it to check that a dump of an older format still loads the same values.

argv: DUMP_PATH. Prints a JSON line with the dump's path.
"""

import dataclasses
import datetime
import decimal
import fractions
import json
import sys
import uuid
import zoneinfo

import pyheapdump


@dataclasses.dataclass
class Payment:
    amount: decimal.Decimal
    when: datetime.datetime
    tags: list


def values():
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    when = datetime.datetime(2024, 7, 1, 14, 30, 15, 123456)
    shared_amount = decimal.Decimal("12.50")
    return {
        "naive": when,
        "utc": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "paris": datetime.datetime(2024, 12, 24, 18, 0, tzinfo=paris),
        "paris_summer": datetime.datetime(2024, 6, 24, 18, 0, tzinfo=paris),
        "kolkata": datetime.datetime(2024, 3, 1, 9, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=5,
                                                                                                  minutes=30), "IST")),
        "date": datetime.date(1999, 12, 31),
        "time": datetime.time(23, 59, 58, 999),
        "time_in_zone": datetime.time(8, 15, tzinfo=datetime.timezone(datetime.timedelta(hours=-3))),
        "delta": datetime.timedelta(days=-2, seconds=5, microseconds=7),
        "amount": shared_amount,
        "same_amount": shared_amount,
        "negative": decimal.Decimal("-0.000001"),
        "huge": decimal.Decimal("1234567890123456789012345678901234567890.5"),
        "nan": decimal.Decimal("NaN"),
        "fraction": fractions.Fraction(22, 7),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "complex": complex(1.5, -2.0),
        "payments": [Payment(decimal.Decimal(f"{i}.{i:02d}"), when + datetime.timedelta(minutes=i), [i, "x"])
                     for i in range(3)],
        "dates_by_year": {year: datetime.date(year, 1, 1) for year in (2000, 2024)},
    }


def hold(path):
    held = values()
    return {"path": pyheapdump.save_dump(path, threads=False), "count": len(held)}


if __name__ == "__main__":
    print(json.dumps(hold(sys.argv[1])))
