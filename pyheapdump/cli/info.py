"""`pyheapdump info DUMP|DIR ...`: what each dump is, from its header and summary, without loading objects."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pyheapdump.cli._progress import bar
from pyheapdump.errors import DumpError, DumpNotFoundError

NAME = "info"
HELP = "show the header of each dump (time, program, pid, Python, host, exception, threads, size, limits hit)"
SUFFIX = ".heapdump"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", metavar="DUMP|DIR", nargs="+", help="dump files, or directories whose *.heapdump files to list"
    )


def dump_files(paths: list[str]) -> list[Path]:
    """The files named, with each directory replaced by its dumps; a directory without dumps is an error. Any other
    name stays: reading its header says what is wrong with it, as every subcommand says it."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.name.endswith(SUFFIX) and p.is_file())
            if not found:
                raise DumpNotFoundError(f"{name}: no {SUFFIX} files in this directory")
            files.extend(_newest_first(found))
        else:
            files.append(path)
    return files


def _newest_first(files: list[Path]) -> list[Path]:
    """By the time written in each dump's header (a copied file keeps it), else by the file's modification time."""
    return sorted(files, key=_dump_time, reverse=True)


def _dump_time(path: Path) -> float:
    import datetime
    import json

    from pyheapdump.load.dumpfile import open_dump_file

    try:
        stamp = json.loads(open_dump_file(path).header_json()).get("time")
        return datetime.datetime.fromisoformat(stamp).timestamp()
    except (DumpError, ValueError, TypeError, AttributeError, OSError):
        return path.stat().st_mtime


def read_headers(files: list[Path]) -> list[tuple[Path, dict[str, Any] | DumpError]]:
    from pyheapdump.load.loader import read_header

    results: list[tuple[Path, dict[str, Any] | DumpError]] = []
    for done, path in enumerate(files):
        bar("reading headers", done, len(files))
        try:
            results.append((path, read_header(path)))
        except DumpError as error:
            results.append((path, error))
    bar("reading headers", len(files), len(files))
    return results


def _size(count: Any) -> str:
    if not isinstance(count, int | float):
        return "?"
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return "?"


def _program(header: dict[str, Any]) -> str:
    argv = header.get("argv")
    if isinstance(argv, list) and argv:
        return " ".join(str(a) for a in argv)
    return str(header.get("executable") or "?")


def _limits(header: dict[str, Any]) -> str:
    hit = header.get("limits_hit") or []
    cut = {k: v for k, v in (header.get("cut") or {}).items() if v}
    if not hit and not cut:
        return "none"
    cuts = ", ".join(f"{reason} {count}" for reason, count in cut.items())
    return ", ".join(str(h) for h in hit) + (f" (cut: {cuts})" if cuts else "")


def _task_stacks(header: dict[str, Any]) -> str | None:
    """The asyncio tasks and greenlets dumped beside the threads, by kind (dumps before 1.0 do not say)."""
    stacks = header.get("extra_stacks")
    if not isinstance(stacks, dict):
        return None
    counts = [f"{count} {kind}{'' if count == 1 else 's'}" for kind, count in stacks.items() if isinstance(count, int)]
    return ", ".join(counts) or "none"


def _damage(header: dict[str, Any]) -> str | None:
    """What the reader found wrong with the file (cut short, damaged chunks): the load recovers what is intact."""
    problems = [str(w) for w in header.get("warnings") or []]
    if header.get("summary_error") and not problems:
        problems.append(str(header["summary_error"]))
    if not problems:
        return None
    return "; ".join(problems) + " (the counts above are from the header; loading recovers the intact records)"


def describe(path: Path, header: dict[str, Any]) -> list[str]:
    python = f"{header.get('python', '?')} ({header.get('implementation', '?')}) on {header.get('platform', '?')}"
    rows = [
        ("time", header.get("time")),
        ("program", _program(header)),
        ("pid", header.get("pid")),
        ("python", python),
        ("host", header.get("hostname")),
        ("cwd", header.get("cwd")),
        ("description", header.get("description")),
        ("reason", header.get("reason")),
        ("exception", header.get("exception") or "none"),
        ("threads", header.get("threads")),
        ("task stacks", _task_stacks(header)),
        (
            "size",
            f"{_size(header.get('file_size'))} on disk; {header.get('objects', '?')} objects, "
            f"{_size(header.get('bytes'))} of records, {header.get('sources', '?')} source files",
        ),
        ("limits hit", _limits(header)),
        ("redaction", "on" if header.get("redaction") else "off"),
        ("format", f"{header.get('format', '?')}, written by pyheapdump {header.get('pyheapdump', '?')}"),
        ("damaged", _damage(header)),
    ]
    lines = [str(path)]
    lines += [f"  {name:<12} {value}" for name, value in rows if value not in (None, "")]
    return lines


def run(args: argparse.Namespace) -> int:
    results = read_headers(dump_files(args.paths))
    failed = 0
    first = True
    for path, header in results:
        if isinstance(header, DumpError):
            failed += 1
            print(f"pyheapdump: error: {header}", file=sys.stderr)
            continue
        if not first:
            print()
        first = False
        print("\n".join(describe(path, header)))
    return 1 if failed else 0
