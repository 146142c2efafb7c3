"""zoneinfo.ZoneInfo time zones: their key, and the zone's TZif data when the dumping machine has the file.

A load gives a real ZoneInfo: the loading machine's zone of that key when its tz database has one (ZoneInfo is
standard library; making one from a key string runs no code of the dump), else one made from the dumped TZif
data (parsed by zoneinfo, no code in it). A datetime in that zone then loads as a real aware datetime.

Where neither is available (a key unknown here and no data in the dump), or the zone is another library's (dateutil,
pytz) that a safe load does not rebuild or that is not installed here, a datetime in it still loads as a real
datetime: its wall time, in a fixed-offset `datetime.timezone` of its UTC offset at dump time, named after the zone
and saying it was not available, e.g. `Europe/Paris (+02:00 at dump time; zone not available here)`. The offset is
the one the walker recorded with the datetime (asked of ZoneInfo's C methods), or one the zone's dumped state gives
(a dateutil tzoffset or tzutc, a pytz zone as pytz attaches it to a datetime); a dateutil tzfile comes back as the
ZoneInfo of its key when this machine has it.
"""

from __future__ import annotations

import io
import sys

from pyheapdump.typesupport import TypeSupport

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    import datetime
    from typing import Any

# datetime is imported by the load-side functions that use it: this module is imported with the package (the dump side
# registers its support), where it is not needed.

_MAX_TZIF = 1 << 20


def _tzif_data(key: str) -> bytes | None:
    """The zone's compiled file, where zoneinfo itself would find it (TZPATH, then an already imported tzdata)."""
    try:
        from zoneinfo import _tzpath

        path = _tzpath.find_tzfile(key)
        if path is not None:
            with open(path, "rb") as file:
                data = file.read(_MAX_TZIF + 1)
            return data if len(data) <= _MAX_TZIF else None
        # From tzdata only as zoneinfo itself read this zone: with importlib.resources and the zone's package of tzdata
        # already imported, so that no import runs while the program fails.
        resources = sys.modules.get("importlib.resources")
        package, _, name = f"tzdata.zoneinfo.{key.replace('/', '.')}".rpartition(".")
        if resources is not None and package in sys.modules:
            data = resources.files(package).joinpath(name).read_bytes()
            return data if len(data) <= _MAX_TZIF else None
    except (OSError, ValueError, ImportError, ModuleNotFoundError):
        return None
    return None


def capture_zone(zone: Any) -> dict[str, Any]:
    key = zone.key
    return {"key": key, "tzif": _tzif_data(key) if isinstance(key, str) else None}


def rebuild_zone(state: dict[str, Any]) -> Any:
    import zoneinfo

    key, data = state.get("key"), state.get("tzif")
    if isinstance(key, str):
        try:
            return zoneinfo.ZoneInfo(key)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
    if isinstance(data, bytes) and data:
        return zoneinfo.ZoneInfo.from_file(io.BytesIO(data), key=key if isinstance(key, str) else None)
    raise ValueError(f"time zone {key!r} is not in this machine's tz database and the dump holds no data for it "
                     "(its datetimes keep their UTC offset at dump time)")


def _dumped_state(zone: Any) -> dict[str, Any]:
    try:
        state = object.__getattribute__(zone, "__dict__")
    except AttributeError:
        return {}
    return state if type(state) is dict else {}


def _offset_text(offset: datetime.timedelta) -> str:
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


def _zone_of_a_key(key: Any) -> Any:
    import zoneinfo

    if not isinstance(key, str) or not key:
        return None
    try:
        return zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _offset_from_state(original: str, state: dict[str, Any]) -> tuple[Any, Any]:
    """(offset, name) that a zone of another library gives every datetime, read from its dumped state; the offset is
    None when the state does not say it."""
    import datetime

    if original in ("dateutil.tz.tz.tzutc", "pytz.UTC", "pytz._UTCclass"):
        return datetime.timedelta(0), "UTC"
    if original == "dateutil.tz.tz.tzoffset":
        return state.get("_offset"), state.get("_name")
    if original.startswith("pytz."):  # pytz attaches to a datetime the zone instance of that datetime's offset
        return state.get("_utcoffset"), state.get("zone")
    return None, None


def datetime_in_a_missing_zone(function: Any, args: Any, attrs: dict[str, Any]) -> datetime.datetime | None:
    """The datetime of a reduce `datetime(state, zone)` whose zone could not be rebuilt here (a surrogate stands for
    it), in a fixed-offset zone of its offset at dump time; None when neither the record nor the zone says it."""
    import datetime

    from pyheapdump.surrogates.base import Surrogate, surrogate_info

    if function is not datetime.datetime or type(args) is not tuple or len(args) != 2:
        return None
    state, zone = args
    if type(state) is not bytes or not isinstance(zone, Surrogate):
        return None
    # The naive wall time (and fold) the dumped bytes hold: the constructor form pickle uses.
    wall = datetime.datetime(state)  # type: ignore[call-arg, arg-type]
    info = surrogate_info(zone)
    original = info.original if info is not None else "?"
    dumped = _dumped_state(zone)
    key = dumped.get("key") if original == "zoneinfo.ZoneInfo" else dumped.get("_key") or dumped.get("zone")
    if original.startswith("pytz.tzfile.") and not key:  # pytz makes one class per zone, named by its key
        key = original.removeprefix("pytz.tzfile.")
    if original.startswith("dateutil.tz") and "_filename" in dumped and not key:
        filename = dumped["_filename"]
        key = filename.partition("zoneinfo/")[2] if isinstance(filename, str) else None
    if original.startswith("dateutil.tz") and "tzfile" in original:
        real = _zone_of_a_key(key)
        if real is not None:
            return wall.replace(tzinfo=real)
    offset, name = _offset_from_state(original, dumped)
    recorded = attrs.get("utcoffset")
    if type(recorded) is int and -86400 < recorded < 86400:
        offset, name = datetime.timedelta(seconds=recorded), key or attrs.get("tzname")
    if not isinstance(offset, datetime.timedelta) or not -datetime.timedelta(days=1) < offset < datetime.timedelta(
            days=1):
        return None
    label = (key if isinstance(key, str) and key else name if isinstance(name, str) and name
             else "UTC" if not offset else f"UTC{_offset_text(offset)}")
    # Why the zone is not itself: another library's zone says why it was not rebuilt ("not trusted" in a safe load,
    # "opaque" when its reduce is its library's code, which the dump never runs, "not importable").
    where = ("zone not available here" if original == "zoneinfo.ZoneInfo"
             else f"{original} not rebuilt: {info.reason if info is not None else 'a surrogate'}")
    fixed = datetime.timezone(offset, f"{label} ({_offset_text(offset)} at dump time; {where})")
    return wall.replace(tzinfo=fixed)


SUPPORTS = (TypeSupport("zoneinfo", ("zoneinfo.ZoneInfo",), capture_zone, rebuild_zone, safe=True),)
