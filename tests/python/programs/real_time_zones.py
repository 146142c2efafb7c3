"""A scheduling program's datetimes in every kind of zone real code uses: zoneinfo (a key of the tz database, and one
made from a file under a key no tz database has), datetime.timezone, and dateutil's zones (what dateutil.parser
gives for an offset, its UTC, and its tz database zone) when dateutil is installed (pandas depends on it), and
pytz's (a zone's datetime as pytz localizes it, and its UTC) when pytz is installed.

argv: DUMP_PATH. `schedule()` keeps the datetimes as locals and dumps from inside it; prints a JSON line of what
the datetimes are, as this process sees them.
"""

import datetime
import io
import json
import sys
import zoneinfo

import pyheapdump

try:
    from dateutil import parser as date_parser
    from dateutil import tz as dateutil_tz
except ImportError:  # the dateutil zones are left out; the test skips what needs them
    date_parser = dateutil_tz = None
try:
    import pytz
except ImportError:  # the pytz zones are left out; the test skips what needs them
    pytz = None


def described(value):
    # half a year on, across a change of daylight saving time in the zones that have one
    later = value + datetime.timedelta(days=180)
    return {"iso": value.isoformat(), "hour": value.hour, "tzname": value.tzname(), "later": later.isoformat()}


def schedule(path):
    paris = datetime.datetime(2024, 7, 1, 14, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    with open(zoneinfo.TZPATH[0] + "/Europe/Paris", "rb") as file:  # the system's tz database (Debian: tzdata)
        olympus_zone = zoneinfo.ZoneInfo.from_file(io.BytesIO(file.read()), key="Mars/Olympus")
    olympus = datetime.datetime(2024, 1, 15, 9, 5, tzinfo=olympus_zone)
    kolkata = datetime.datetime(2024, 7, 1, 18, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30),
                                                                                 "IST"))
    zones = {"paris": paris, "olympus": olympus, "kolkata": kolkata}
    if dateutil_tz is not None:
        parsed = date_parser.parse("2024-07-01T14:30:00+02:00")
        dateutil_utc = datetime.datetime(2024, 7, 1, 12, 30, tzinfo=dateutil_tz.UTC)
        dateutil_paris = datetime.datetime(2024, 12, 1, 8, 0, tzinfo=dateutil_tz.gettz("Europe/Paris"))
        zones.update(parsed=parsed, dateutil_utc=dateutil_utc, dateutil_paris=dateutil_paris)
    if pytz is not None:
        pytz_new_york = pytz.timezone("America/New_York").localize(datetime.datetime(2024, 7, 1, 9, 0))
        pytz_utc = datetime.datetime(2024, 7, 1, 12, 30, tzinfo=pytz.utc)
        zones.update(pytz_new_york=pytz_new_york, pytz_utc=pytz_utc)
    pyheapdump.save_dump(path, exc=False)
    return {name: described(value) for name, value in zones.items()}


if __name__ == "__main__":
    print(json.dumps(schedule(sys.argv[1])))
