"""Hand-written line tables: each instruction of a re-enacting code object maps to a dumped line and carries
no column, so `f_lineno`, `tb_lineno`, pdb's `>>` marker and `traceback`'s carets show dumped lines."""

from __future__ import annotations

_MAX_LINE = 2**31 - 1
# Location-table entry kind "line only, no columns" (CPython Objects/locations.md, 3.11-3.13).
_NO_COLUMNS = 13
_LONG_FORM = 14  # line delta, end line delta, column + 1, end column + 1
_CODE_UNIT = 2


_Location = tuple[int, int, int | None, int | None]


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 64:
        out.append(0x40 | (value & 63))
        value >>= 6
    out.append(value)
    return bytes(out)


def _signed_varint(value: int) -> bytes:
    return _varint((-value << 1) | 1 if value < 0 else value << 1)


def _line_table(unit_locations: list[_Location], first_line: int) -> bytes:
    """A location table giving each code unit its location: line only, or line and columns when known."""
    out = bytearray()
    previous = first_line
    index = 0
    while index < len(unit_locations):
        location = unit_locations[index]
        length = 1
        while length < 8 and index + length < len(unit_locations) and unit_locations[index + length] == location:
            length += 1
        line, end_line, column, end_column = location
        if column is None or end_column is None:
            out.append(0x80 | (_NO_COLUMNS << 3) | (length - 1))
            out += _signed_varint(line - previous)
        else:
            out.append(0x80 | (_LONG_FORM << 3) | (length - 1))
            out += _signed_varint(line - previous) + _varint(max(0, end_line - line))
            out += _varint(column + 1) + _varint(end_column + 1)
        previous = line
        index += length
    return bytes(out)


def _plain(line: int) -> _Location:
    return (line, line, None, None)
