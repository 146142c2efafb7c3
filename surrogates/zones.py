"""zoneinfo.ZoneInfo time zones: their key, and the zone's TZif data when the dumping machine has the file.

A load gives a real ZoneInfo: the loading machine's zone of that key when its tz database has one (ZoneInfo is
standard library; making one from a key string runs no code of the dump), else one made from the dumped TZif
data (parsed by zoneinfo, no code in it). A datetime in that zone then loads as a real aware datetime.
"""

from __future__ import annotations

import io
import sys
from typing import Any

from pyheapdump.typesupport import TypeSupport

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
        if "tzdata" in sys.modules:  # imported by the program (or zoneinfo) already: no import runs here
            from importlib import resources

            package, _, name = f"tzdata.zoneinfo.{key.replace('/', '.')}".rpartition(".")
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
    raise ValueError(f"time zone {key!r} is not in this machine's tz database and the dump holds no data for it")


SUPPORTS = (TypeSupport("zoneinfo", ("zoneinfo.ZoneInfo",), capture_zone, rebuild_zone, safe=True),)
