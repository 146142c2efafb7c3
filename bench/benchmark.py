#!/usr/bin/env python3
"""Dump and load speed, file size and peak memory of pyheapdump, pickle+zlib and coredumpy.

Every measurement runs in a fresh child process (one per tool x workload x phase x repeat),
so no tool profits from another's warm caches and each child's ru_maxrss is its own peak:

- baseline child: builds the workload and returns, dumping nothing; its peak is the
  workload's own memory, subtracted from a dump child's peak to give the tool's share;
- dump child: builds the workload inside a function whose locals hold it, then times one
  dump of it (the frame for pyheapdump and coredumpy, the object for pickle);
- load child: times one load of that file, then checks the loaded workload against the
  original (length, sampled values, identity of shared links), so a tool that loses data
  is reported as such rather than as fast.

Times are wall-clock (time.perf_counter) around the dump or load call only; interpreter
start-up, importing the tool and building the workload are outside them. Each figure is the
median over --repeat runs. Run `bench/benchmark.py --help` for the options.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import pickle
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import workloads

BENCH_SCRIPT = Path(__file__).resolve()
REPO_ROOT = BENCH_SCRIPT.parent.parent
RESULT_MARKER = "BENCH-RESULT "
# Printed by a child just before its timed call, with time.time(): when the child is killed for
# taking too long, the parent knows how long the timed call itself had been running.
PHASE_MARKER = "BENCH-PHASE-STARTED "

# coredumpy cuts its breadth-first walk after `depth` levels (default 10) and after
# config.dump_timeout seconds (default 60). Both are raised so it dumps the whole workload;
# the benchmark's own per-run timeout is what stops a run that takes too long.
COREDUMPY_DEPTH = 1_000_000
COREDUMPY_DUMP_TIMEOUT = 1_000_000

DEFAULT_TIMEOUT = 300.0

# The targets.
DUMP_SPEEDUP_OVER_COREDUMPY = 50.0
DUMP_SLOWDOWN_OVER_PICKLE = 2.0
LOAD_SPEEDUP_OVER_COREDUMPY = 20.0  # issue 12 (issue 2 asked 10x)
LOAD_SLOWDOWN_OVER_PICKLE = 1.0  # issue 12: load time and load peak, against pickle+zlib-6


# --------------------------------------------------------------------------------------
# The tools. Each adapter runs inside a child process.
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Tool:
    name: str
    module: str  # what must be importable for the tool to run
    extension: str
    timed_dump: str  # what the dump time covers, for the report
    timed_load: str
    prepare: Callable[[], None]  # imports and configuration, outside the timed region
    dump: Callable[[Any, FrameType, Path], None]
    load: Callable[[Path], Any]
    extract: Callable[[Any], Any]  # what load returned -> the workload object
    load_warnings: Callable[[Any], list[str]] = lambda loaded: []  # what the loader said it could not rebuild
    opt_in: bool = False  # run only when --tools names it exactly
    # Workloads this tool runs only when --workloads names them exactly (and it is chosen): too slow to run by default.
    only_when_named: frozenset[str] = frozenset()


def _pyheapdump_prepare() -> None:
    # The package imports its loader on first use (PEP 562): import it here, outside the timed load, as the other
    # tools' imports are.
    import pyheapdump.load.loader  # noqa: F401


def _pyheapdump_dump(workload: Any, frame: FrameType, path: Path) -> None:
    import pyheapdump

    pyheapdump.save_dump(path, frame=frame, threads=False)


def _pyheapdump_cut_dump(workload: Any, frame: FrameType, path: Path) -> None:
    import pyheapdump

    # Two objects per element: service-records (three per entry) is cut at two thirds, as 2,000,000 of its
    # 3,000,000 objects were by the former default.
    pyheapdump.save_dump(path, frame=frame, threads=False, max_objects=max(2 * len(workload), 1_000))


def _pyheapdump_load(path: Path) -> Any:
    import pyheapdump

    return pyheapdump.load_dump(path)


def _pyheapdump_extract(dump: Any) -> Any:
    frames = [dump.frame, *dump.traceback, *(frame for thread in dump.threads for frame in thread.frames)]
    for frame in frames:
        if frame is not None and "workload" in frame.f_locals:
            return frame.f_locals["workload"]
    raise LookupError("no dumped frame has a local named 'workload'")


def _pickle_dump_at(level: int) -> Callable[[Any, FrameType, Path], None]:
    def dump(workload: Any, frame: FrameType, path: Path) -> None:
        path.write_bytes(zlib.compress(pickle.dumps(workload, protocol=5), level))

    return dump


def _pickle_load(path: Path) -> Any:
    return pickle.loads(zlib.decompress(path.read_bytes()))


def _coredumpy_prepare() -> None:
    import coredumpy

    # coredumpy 0.5.0 ships a Decimal support in coredumpy/types/stdlib_types.py that the
    # package never imports. Without it a Decimal goes through the generic getmembers path,
    # where `Decimal.imag` returns a new Decimal on every access: with the depth limit
    # raised the walk never ends (one more Decimal per record per level). Importing the
    # module gives coredumpy its own, intended handling of Decimal: the favourable setting.
    import coredumpy.types.stdlib_types  # noqa: F401

    coredumpy.config.dump_timeout = COREDUMPY_DUMP_TIMEOUT


def _coredumpy_dump(workload: Any, frame: FrameType, path: Path) -> None:
    import coredumpy

    coredumpy.dump(frame=frame, path=str(path), depth=COREDUMPY_DEPTH)


def _coredumpy_defaults_dump(workload: Any, frame: FrameType, path: Path) -> None:
    import coredumpy

    coredumpy.dump(frame=frame, path=str(path))


def _coredumpy_load(path: Path) -> Any:
    import coredumpy

    # What `coredumpy load` does before it starts pdb: gunzip, json.load, patch inspect,
    # rebuild every object as a proxy and link the frames.
    return coredumpy.Coredumpy.load_data_from_path(str(path))


def _coredumpy_extract(data: Any) -> Any:
    return data["frame"].f_locals["workload"]


def _no_prepare() -> None:
    pass


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            name="pyheapdump",
            module="pyheapdump",
            extension=".heapdump",
            timed_dump="pyheapdump.save_dump(path, frame=<the frame holding the workload>, threads=False)",
            timed_load="pyheapdump.load_dump(path) (safe mode, the default)",
            prepare=_pyheapdump_prepare,
            dump=_pyheapdump_dump,
            load=_pyheapdump_load,
            extract=_pyheapdump_extract,
            load_warnings=lambda dump: [str(warning) for warning in dump.warnings],
        ),
        Tool(
            name="pyheapdump-cut",
            module="pyheapdump",
            extension=".heapdump",
            timed_dump="pyheapdump.save_dump(path, frame=<the frame>, threads=False, max_objects=2 * len(workload))",
            timed_load="pyheapdump.load_dump(path) (safe mode, the default)",
            prepare=_pyheapdump_prepare,
            dump=_pyheapdump_cut_dump,
            load=_pyheapdump_load,
            extract=_pyheapdump_extract,
            load_warnings=lambda dump: [str(warning) for warning in dump.warnings],
            opt_in=True,
        ),
        Tool(
            name="pickle+zlib-6",
            module="pickle",
            extension=".pickle.z",
            timed_dump="zlib.compress(pickle.dumps(workload, protocol=5), 6) and writing the file",
            timed_load="reading the file, zlib.decompress, pickle.loads",
            prepare=_no_prepare,
            dump=_pickle_dump_at(6),
            load=_pickle_load,
            extract=lambda loaded: loaded,
        ),
        Tool(
            name="pickle+zlib-1",
            module="pickle",
            extension=".pickle.z",
            timed_dump="zlib.compress(pickle.dumps(workload, protocol=5), 1) and writing the file",
            timed_load="reading the file, zlib.decompress, pickle.loads",
            prepare=_no_prepare,
            dump=_pickle_dump_at(1),
            load=_pickle_load,
            extract=lambda loaded: loaded,
        ),
        Tool(
            name="coredumpy",
            module="coredumpy",
            extension=".dump",
            timed_dump=(
                f"coredumpy.dump(frame=<the frame holding the workload>, path=path, depth={COREDUMPY_DEPTH:_}) "
                f"with config.dump_timeout={COREDUMPY_DUMP_TIMEOUT:_} (JSON, gzip)"
            ),
            timed_load=(
                "coredumpy.Coredumpy.load_data_from_path(path): what `coredumpy load` runs before starting pdb "
                "(gunzip, json.load, rebuild every object as a proxy, link the frames)"
            ),
            prepare=_coredumpy_prepare,
            dump=_coredumpy_dump,
            load=_coredumpy_load,
            extract=_coredumpy_extract,
            # 3,000,000 objects: many minutes per run, each past the per-run timeout.
            only_when_named=frozenset({"service-records"}),
        ),
        Tool(
            name="coredumpy-defaults",
            module="coredumpy",
            extension=".dump",
            timed_dump=(
                "coredumpy.dump(frame=<the frame holding the workload>, path=path) as shipped: depth 10, "
                "config.dump_timeout=60, Decimal through the generic path"
            ),
            timed_load="coredumpy.Coredumpy.load_data_from_path(path), as for coredumpy",
            prepare=_no_prepare,
            dump=_coredumpy_defaults_dump,
            load=_coredumpy_load,
            extract=_coredumpy_extract,
            opt_in=True,
        ),
    )
}

REFERENCE_TOOL = "pyheapdump"

# Wall time is what a user waits; CPU time is steadier when other work shares the machine.
CLOCK_FIELDS = {"wall": "seconds", "cpu": "cpu_seconds"}


# --------------------------------------------------------------------------------------
# The child process: one phase of one tool on one workload.
# --------------------------------------------------------------------------------------


def _peak_rss_kb() -> int:
    # Linux reports ru_maxrss in kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _announce_phase_start() -> None:
    print(f"{PHASE_MARKER}{time.time()}", flush=True)


def _hold_and_dump(workload: Any, tool: Tool, path: Path) -> tuple[float, float]:
    """Dump from this frame, whose local `workload` is what the dump must contain: (wall, cpu) seconds."""
    frame = sys._getframe()
    _announce_phase_start()
    start, start_cpu = time.perf_counter(), time.process_time()
    tool.dump(workload, frame, path)
    return time.perf_counter() - start, time.process_time() - start_cpu


def _hold_without_dump(workload: Any) -> int:
    """The baseline: the workload is alive, exactly as in a dump child, but nothing dumps it."""
    return len(workload)


def _child_baseline(spec: dict[str, Any]) -> dict[str, Any]:
    _hold_without_dump(workloads.BUILDERS[spec["workload"]](spec["size"]))
    return {"peak_rss_kb": _peak_rss_kb()}


def _child_dump(spec: dict[str, Any]) -> dict[str, Any]:
    tool = TOOLS[spec["tool"]]
    tool.prepare()
    path = Path(spec["path"])
    seconds, cpu_seconds = _hold_and_dump(workloads.BUILDERS[spec["workload"]](spec["size"]), tool, path)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_rss_kb": _peak_rss_kb(),
        "file_bytes": path.stat().st_size,
    }


def _child_load(spec: dict[str, Any]) -> dict[str, Any]:
    tool = TOOLS[spec["tool"]]
    tool.prepare()
    path = Path(spec["path"])
    _announce_phase_start()
    start, start_cpu = time.perf_counter(), time.process_time()
    loaded = tool.load(path)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    peak = _peak_rss_kb()
    # The check runs after the clock stopped: it is not part of the load.
    try:
        problems = workloads.CHECKS[spec["workload"]](tool.extract(loaded), spec["size"])
    except Exception as error:  # noqa: BLE001 - any failure to read the data back is lost data
        problems = [f"reading the loaded workload failed: {type(error).__name__}: {error}"]
    warnings = tool.load_warnings(loaded)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_rss_kb": peak,
        "problems": problems,
        "load_warning_count": len(warnings),
        "load_warnings": warnings[:5],
    }


CHILD_PHASES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "baseline": _child_baseline,
    "dump": _child_dump,
    "load": _child_load,
}


def run_child(spec: dict[str, Any]) -> int:
    try:
        result = {"status": "ok", **CHILD_PHASES[spec["phase"]](spec)}
    except Exception as error:  # noqa: BLE001 - reported to the parent as this cell's failure
        result = {"status": "error", "message": f"{type(error).__name__}: {str(error)[:300]}"}
    print(RESULT_MARKER + json.dumps(result), flush=True)
    return 0


# --------------------------------------------------------------------------------------
# The parent: runs the children, collects medians, prints tables and target checks.
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Cell:
    """Everything measured for one tool on one workload."""

    tool: str
    workload: str
    dump_seconds: list[float] = dataclasses.field(default_factory=list)  # wall clock
    load_seconds: list[float] = dataclasses.field(default_factory=list)
    dump_cpu_seconds: list[float] = dataclasses.field(default_factory=list)  # CPU time of the child
    load_cpu_seconds: list[float] = dataclasses.field(default_factory=list)
    file_bytes: list[int] = dataclasses.field(default_factory=list)
    dump_peak_rss_kb: list[int] = dataclasses.field(default_factory=list)
    load_peak_rss_kb: list[int] = dataclasses.field(default_factory=list)
    dump_failure: str | None = None  # "timeout", "error: ...", "crashed: ..."
    load_failure: str | None = None
    timed_out_after: float | None = None  # wall seconds the timed call had run when it was killed
    problems: list[str] = dataclasses.field(default_factory=list)  # data lost in the round trip
    load_warning_count: int = 0  # what the tool's loader reported it could not rebuild (last run)
    load_warnings: list[str] = dataclasses.field(default_factory=list)

    def median(self, name: str) -> float | None:
        values = getattr(self, name)
        return statistics.median(values) if values else None

    def time(self, phase: str, clock: str) -> float | None:
        """Median dump or load time by the wall clock or in CPU seconds."""
        return self.median(f"{phase}_{CLOCK_FIELDS[clock]}")

    @property
    def dump_timed_out(self) -> bool:
        return self.dump_failure == "timeout"

    @property
    def load_timed_out(self) -> bool:
        return self.load_failure == "timeout"

    @property
    def round_trip_ok(self) -> bool:
        return self.dump_failure is None and self.load_failure is None and not self.problems and bool(self.load_seconds)


@dataclasses.dataclass
class Runner:
    python: str
    timeout: float
    workdir: Path
    environment: dict[str, str]
    verbose: bool = True

    def child(self, spec: dict[str, Any]) -> dict[str, Any]:
        command = [self.python, str(BENCH_SCRIPT), "--child", json.dumps(spec)]
        try:
            completed = subprocess.run(
                command,
                cwd=self.workdir,
                env=self.environment,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as expired:
            return {"status": "timeout", "timed_call_ran_at_least": _timed_call_duration(expired.stdout)}
        for line in reversed(completed.stdout.splitlines()):
            if line.startswith(RESULT_MARKER):
                return json.loads(line[len(RESULT_MARKER) :])
        reason = f"exit status {completed.returncode}"
        if completed.returncode < 0:
            reason = f"killed by signal {-completed.returncode}"
        tail = completed.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"status": "crashed", "message": f"{reason}: {tail[0][:300]}"}

    def log(self, message: str) -> None:
        if self.verbose:
            print(message, file=sys.stderr, flush=True)


def _timed_call_duration(partial_stdout: bytes | str | None) -> float:
    """How long a killed child's timed call had been running (0 if it had not started)."""
    killed_at = time.time()
    text = partial_stdout.decode(errors="replace") if isinstance(partial_stdout, bytes) else partial_stdout or ""
    for line in text.splitlines():
        if line.startswith(PHASE_MARKER):
            return max(0.0, killed_at - float(line[len(PHASE_MARKER) :]))
    return 0.0


def _failure_text(result: dict[str, Any]) -> str:
    if result["status"] == "timeout":
        return "timeout"
    return f"{result['status']}: {result.get('message', '')}"


def measure_baseline(runner: Runner, workload: str, size: int, repeat: int) -> list[int]:
    peaks = []
    for _ in range(repeat):
        result = runner.child({"phase": "baseline", "workload": workload, "size": size})
        if result["status"] != "ok":
            raise SystemExit(f"the baseline child for {workload} failed ({_failure_text(result)}); nothing to compare")
        peaks.append(result["peak_rss_kb"])
    return peaks


def measure_cell(runner: Runner, tool: Tool, workload: str, size: int, repeat: int) -> Cell:
    cell = Cell(tool.name, workload)
    for attempt in range(repeat):
        path = runner.workdir / f"{workload}-{tool.name}-{attempt}{tool.extension}"
        spec = {"tool": tool.name, "workload": workload, "size": size, "path": str(path)}
        try:
            dumped = runner.child({**spec, "phase": "dump"})
            if dumped["status"] != "ok":
                cell.dump_failure = _failure_text(dumped)
                cell.timed_out_after = dumped.get("timed_call_ran_at_least")
                break
            cell.dump_seconds.append(dumped["seconds"])
            cell.dump_cpu_seconds.append(dumped["cpu_seconds"])
            cell.dump_peak_rss_kb.append(dumped["peak_rss_kb"])
            cell.file_bytes.append(dumped["file_bytes"])
            loaded = runner.child({**spec, "phase": "load"})
            if loaded["status"] != "ok":
                cell.load_failure = _failure_text(loaded)
                cell.timed_out_after = loaded.get("timed_call_ran_at_least")
                break
            cell.load_seconds.append(loaded["seconds"])
            cell.load_cpu_seconds.append(loaded["cpu_seconds"])
            cell.load_peak_rss_kb.append(loaded["peak_rss_kb"])
            cell.load_warning_count = loaded["load_warning_count"]
            cell.load_warnings = loaded["load_warnings"]
            runner.log(
                f"  {tool.name:14} {workload:18} run {attempt + 1}/{repeat}: "
                f"dump {dumped['seconds']:.3f} s, load {loaded['seconds']:.3f} s, {dumped['file_bytes'] / 1024:,.0f} KB"
            )
            if loaded["problems"]:
                cell.problems = loaded["problems"]
                break  # the same code loses the same data on every run
        finally:
            path.unlink(missing_ok=True)
    if cell.dump_failure or cell.load_failure:
        runner.log(f"  {tool.name:14} {workload:18} {cell.dump_failure or cell.load_failure}")
    return cell


def import_failure(python: str, module: str, environment: dict[str, str]) -> str | None:
    """None when `module` imports in the children's interpreter, else the reason it does not."""
    completed = subprocess.run(
        [python, "-c", f"import {module}"],
        cwd=tempfile.gettempdir(),
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if completed.returncode == 0:
        return None
    return (completed.stderr.strip().splitlines() or ["import failed"])[-1]


def child_environment(python: str) -> dict[str, str]:
    """The children's environment: this source tree when it imports (scripts/dev-build.sh built its native module
    in place for that interpreter), else an installed pyheapdump.

    The tree comes first because a benchmark run from a checkout measures that checkout: a venv made by
    scripts/_setup.sh also holds an installed copy, as old as that venv's last setup.

    Bytecode is written whatever this machine's PYTHONDONTWRITEBYTECODE says: an installed package has its .pyc
    files, so a module that a timed call imports for the first time must not be compiled from source in every child.
    """
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    in_tree = {
        **environment,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    if import_failure(python, "pyheapdump._native", in_tree) is None:
        # Compiled once here, so that no timed child compiles the tree's modules.
        subprocess.run(
            [python, "-m", "compileall", "-q", str(REPO_ROOT / "pyheapdump"), str(REPO_ROOT / "surrogates")],
            env=in_tree,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return in_tree
    return environment


def module_location(python: str, module: str, environment: dict[str, str]) -> str:
    completed = subprocess.run(
        [python, "-c", f"import {module}; print({module}.__file__)"],
        cwd=tempfile.gettempdir(),
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.strip()


# --------------------------------------------------------------------------------------
# Reporting.
# --------------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _ratio(value: float | None, reference: float | None) -> str:
    if value is None or not reference:
        return "—"
    ratio = value / reference
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2f}x"


def _time_cell(cell: Cell, phase: str, timeout: float) -> str:
    failure = cell.dump_failure if phase == "dump" else cell.load_failure
    if failure == "timeout":
        return f"timeout (ran {cell.timed_out_after or 0:.1f} s, limit {timeout:g} s per child)"
    if failure:
        status, _, message = failure.partition(": ")
        if len(message) > 60:
            message = message[:57].rsplit(" ", 1)[0] + " ..."
        return f"{status}: {message}".replace("|", "/") if message else status
    if phase == "load" and cell.dump_failure:
        return "—"
    return f"{_seconds(cell.time(phase, 'wall'))} / {_seconds(cell.time(phase, 'cpu'))}"


def _round_trip_text(cell: Cell) -> str:
    warned = ""
    if cell.load_warning_count:
        first = cell.load_warnings[0] if len(cell.load_warnings[0]) <= 80 else cell.load_warnings[0][:77] + "..."
        warned = f"; the loader warned {cell.load_warning_count} time(s), first: {first}"
    if cell.problems:
        more = f" (+{len(cell.problems) - 1} more)" if len(cell.problems) > 1 else ""
        return f"DATA LOST: {cell.problems[0]}{more}{warned}".replace("|", "/")
    if cell.round_trip_ok:
        return f"ok{warned}".replace("|", "/")
    return "—"


def format_table(workload: str, size: int, cells: list[Cell], baseline_kb: float, timeout: float, clock: str) -> str:
    reference = next((cell for cell in cells if cell.tool == REFERENCE_TOOL), None)

    def reference_median(name: str) -> float | None:
        return reference.median(name) if reference else None

    def reference_time(phase: str) -> float | None:
        return reference.time(phase, clock) if reference else None

    lines = [
        f"### {workload}: {workloads.TITLES[workload].format(n=size)}",
        "",
        f"Workload alone (baseline child, no dump): peak {baseline_kb / 1024:.1f} MB.",
        "",
        "| tool | dump s (wall / cpu) | load s (wall / cpu) | file KB | dump peak MB (Δ over workload) "
        f"| load peak MB | dump vs pyheapdump ({clock}) | load vs pyheapdump ({clock}) | file vs pyheapdump "
        "| round trip |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for cell in cells:
        dump_peak = cell.median("dump_peak_rss_kb")
        load_peak = cell.median("load_peak_rss_kb")
        file_bytes = cell.median("file_bytes")
        peak_text = "—" if dump_peak is None else f"{dump_peak / 1024:.1f} ({(dump_peak - baseline_kb) / 1024:+.1f})"
        lines.append(
            "| "
            + " | ".join(
                [
                    cell.tool,
                    _time_cell(cell, "dump", timeout),
                    _time_cell(cell, "load", timeout),
                    "—" if file_bytes is None else f"{file_bytes / 1024:,.0f}",
                    peak_text,
                    "—" if load_peak is None else f"{load_peak / 1024:.1f}",
                    _ratio(cell.time("dump", clock), reference_time("dump")),
                    _ratio(cell.time("load", clock), reference_time("load")),
                    _ratio(file_bytes, reference_median("file_bytes")),
                    _round_trip_text(cell),
                ]
            )
            + " |"
        )
    samples = {len(cell.dump_seconds) for cell in cells if cell.dump_seconds}
    lines += ["", f"Median of {'/'.join(str(n) for n in sorted(samples)) or 0} run(s) per figure."]
    return "\n".join(lines)


@dataclasses.dataclass
class Check:
    workload: str
    target: str
    verdict: str  # PASS, FAIL, N/A
    detail: str

    def line(self) -> str:
        return f"{self.verdict:4}  {self.workload:18} {self.target}: {self.detail}"


def _speedup_check(
    workload: str, ours: Cell, theirs: Cell, phase: str, needed: float, timeout: float, clock: str
) -> Check:
    """Is pyheapdump's `phase` at least `needed` times faster than `theirs`'?"""
    target = f"{phase} >= {needed:g}x faster than {theirs.tool}"
    our_time = ours.time(phase, clock)
    their_time = theirs.time(phase, clock)
    our_failure = ours.dump_failure or (ours.load_failure if phase == "load" else None)
    if our_time is None or our_failure:
        return Check(workload, target, "FAIL", f"pyheapdump did not complete the {phase} ({our_failure})")
    if not ours.round_trip_ok:
        return Check(workload, target, "FAIL", f"pyheapdump lost data: {_round_trip_text(ours)}")
    if phase == "load" and theirs.dump_failure:
        return Check(workload, target, "N/A", f"{theirs.tool}'s dump did not complete, so nothing was loaded")
    if (theirs.dump_timed_out if phase == "dump" else theirs.load_timed_out) and theirs.timed_out_after:
        # A wall-clock bound: the call had run this long when it was stopped.
        bound = theirs.timed_out_after / our_time
        verdict = "PASS" if bound >= needed else "N/A"
        return Check(
            workload,
            target,
            verdict,
            f"{theirs.tool} was stopped after {theirs.timed_out_after:.1f} s, so it is at least {bound:.0f}x",
        )
    if their_time is None:
        failure = theirs.dump_failure or theirs.load_failure
        return Check(workload, target, "N/A", f"{theirs.tool} did not complete ({failure})")
    speedup = their_time / our_time
    verdict = "PASS" if speedup >= needed else "FAIL"
    return Check(
        workload,
        target,
        verdict,
        f"pyheapdump {_seconds(our_time)} s vs {theirs.tool} {_seconds(their_time)} s = {speedup:.1f}x "
        f"(need {needed:g}x)",
    )


def _pickle_check(
    workload: str, ours: Cell, pickled: Cell, measure: str, limit: float, target_label: str, clock: str
) -> Check:
    """Is pyheapdump's `measure` ("dump", "load" or "load peak") at most `limit` times pickled's?"""
    def value(cell: Cell) -> float | None:
        if measure == "load peak":
            return cell.median("load_peak_rss_kb")
        return cell.time(measure, clock)

    unit = " MB" if measure == "load peak" else " s"
    our_value, pickle_value = value(ours), value(pickled)
    target = f"{measure} <= {limit:g}x {pickled.tool} {target_label}".rstrip()
    pickle_failure = pickled.dump_failure or (pickled.load_failure if measure != "dump" else None)
    if pickle_failure or pickle_value is None:
        return Check(workload, target, "N/A", f"pickle cannot do this workload ({pickle_failure})")
    if our_value is None or not ours.round_trip_ok:
        return Check(workload, target, "FAIL", f"pyheapdump did not complete or lost data ({_round_trip_text(ours)})")

    def shown(figure: float) -> str:
        return f"{figure / 1024:,.1f}" if measure == "load peak" else _seconds(figure)

    slowdown = our_value / pickle_value
    verdict = "PASS" if slowdown <= limit else "FAIL"
    return Check(
        workload,
        target,
        verdict,
        f"pyheapdump {shown(our_value)}{unit} vs {pickled.tool} {shown(pickle_value)}{unit} = {slowdown:.2f}x",
    )


def _size_check(workload: str, ours: Cell, theirs: Cell) -> Check:
    target = "file no larger than coredumpy's"
    our_size = ours.median("file_bytes")
    their_size = theirs.median("file_bytes")
    if our_size is None:
        return Check(workload, target, "FAIL", f"pyheapdump wrote no file ({ours.dump_failure})")
    if their_size is None:
        return Check(workload, target, "N/A", f"coredumpy wrote no file ({theirs.dump_failure})")
    verdict = "PASS" if our_size <= their_size else "FAIL"
    return Check(
        workload, target, verdict, f"pyheapdump {our_size / 1024:,.0f} KB vs coredumpy {their_size / 1024:,.0f} KB"
    )


def target_checks(workload: str, cells: list[Cell], timeout: float, clock: str) -> list[Check]:
    by_tool = {cell.tool: cell for cell in cells}
    ours = by_tool.get(REFERENCE_TOOL)
    if ours is None:
        return []
    round_trip = _round_trip_text(ours)
    if not ours.problems and not ours.round_trip_ok:
        round_trip = ours.dump_failure or ours.load_failure or "did not run"
    checks = [Check(workload, "round trip keeps the data", "PASS" if ours.round_trip_ok else "FAIL", round_trip)]
    coredumpy = by_tool.get("coredumpy")
    if coredumpy:
        checks.append(_speedup_check(workload, ours, coredumpy, "dump", DUMP_SPEEDUP_OVER_COREDUMPY, timeout, clock))
    if "pickle+zlib-6" in by_tool:
        pickled = by_tool["pickle+zlib-6"]
        label = "(zlib default level)"
        checks.append(_pickle_check(workload, ours, pickled, "dump", DUMP_SLOWDOWN_OVER_PICKLE, label, clock))
        checks.append(_pickle_check(workload, ours, pickled, "load", LOAD_SLOWDOWN_OVER_PICKLE, label, clock))
        checks.append(_pickle_check(workload, ours, pickled, "load peak", LOAD_SLOWDOWN_OVER_PICKLE, label, clock))
    if "pickle+zlib-1" in by_tool:
        label = "(zlib level 1, informational)"
        info = _pickle_check(workload, ours, by_tool["pickle+zlib-1"], "dump", DUMP_SLOWDOWN_OVER_PICKLE, label, clock)
        checks.append(dataclasses.replace(info, verdict="info"))
    if coredumpy:
        checks.append(_speedup_check(workload, ours, coredumpy, "load", LOAD_SPEEDUP_OVER_COREDUMPY, timeout, clock))
        checks.append(_size_check(workload, ours, coredumpy))
    return checks


def _interpreter_description(python: str) -> str:
    completed = subprocess.run(
        [python, "-c", "import platform, sys; print(platform.python_implementation(), sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.strip()


def _source_commit() -> str:
    completed = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return completed.stdout.strip() or "unknown"


def _what_is_timed(tools: list[Tool]) -> str:
    lines = ["What is timed (wall clock and the child's CPU time, around this call only):"]
    for tool in tools:
        lines.append(f"- {tool.name}: dump = {tool.timed_dump}; load = {tool.timed_load}.")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Command line.
# --------------------------------------------------------------------------------------


def _select(
    requested: list[str] | None, known: list[str], what: str, opt_in: frozenset[str] = frozenset()
) -> list[str]:
    """Names from `known` matching the requested names or prefixes ("pickle" selects both pickles).

    Names in `opt_in` are chosen only when requested exactly, never by default or by prefix.
    """
    if not requested:
        return [name for name in known if name not in opt_in]
    chosen = []
    for name in requested:
        matches = [
            candidate
            for candidate in known
            if candidate == name or (candidate.startswith(name) and candidate not in opt_in)
        ]
        if not matches:
            raise SystemExit(f"unknown {what} {name!r}; choose from: {', '.join(known)}")
        chosen += [match for match in matches if match not in chosen]
    return [name for name in known if name in chosen]


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark pyheapdump against pickle+zlib and coredumpy, each run in fresh processes."
    )
    parser.add_argument("--repeat", type=int, help="runs per figure, the median is reported (default 3, --quick: 1)")
    parser.add_argument("--quick", action="store_true", help="small workloads, for a smoke test")
    parser.add_argument(
        "--tools",
        type=_comma_list,
        help=f"comma-separated tools or prefixes: {', '.join(TOOLS)} "
        "(coredumpy-defaults, coredumpy with its shipped depth and timeout, only when named)",
    )
    parser.add_argument(
        "--workloads", type=_comma_list, help=f"comma-separated workloads or prefixes: {', '.join(workloads.BUILDERS)}"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds one child may run before its cell is marked 'timeout' (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCK_FIELDS),
        default="wall",
        help="the time the ratios and targets compare: wall clock (default) or the child's CPU time, "
        "steadier when other work shares the machine",
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter for the child processes")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write every raw figure to this JSON file")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.child:
        return run_child(json.loads(args.child))

    repeat = args.repeat or (1 if args.quick else 3)
    if repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    sizes = workloads.QUICK_SIZES if args.quick else workloads.FULL_SIZES
    chosen_workloads = _select(args.workloads, list(workloads.BUILDERS), "workload")
    environment = child_environment(args.python)
    chosen_tools = []
    skipped = []
    opt_in_tools = frozenset(name for name, tool in TOOLS.items() if tool.opt_in)
    for name in _select(args.tools, list(TOOLS), "tool", opt_in_tools):
        reason = import_failure(args.python, TOOLS[name].module, environment)
        if reason is None:
            chosen_tools.append(TOOLS[name])
        elif args.tools:
            raise SystemExit(f"{name} cannot run: `import {TOOLS[name].module}` fails in {args.python}: {reason}")
        else:
            skipped.append(f"{name} ({reason})")

    interpreter = _interpreter_description(args.python)
    started = datetime.datetime.now(datetime.UTC)
    results: dict[str, Any] = {
        "python": interpreter,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "started_utc": started.isoformat(timespec="seconds"),
        "repeat": repeat,
        "timeout_seconds": args.timeout,
        "clock": args.clock,
        "quick": args.quick,
        "skipped_tools": skipped,
        "tool_locations": {tool.name: module_location(args.python, tool.module, environment) for tool in chosen_tools},
        "source_commit": _source_commit(),
        "workloads": {},
    }
    print(f"## pyheapdump benchmark: {interpreter} on {platform.platform()}, {os.cpu_count()} CPUs")
    print()
    # Other work on the machine slows every tool; the load average says how quiet it was.
    print(f"Load average at start: {' / '.join(f'{value:.2f}' for value in os.getloadavg())} (1 / 5 / 15 min).")
    if os.getloadavg()[0] > (os.cpu_count() or 1) * 0.75 and args.clock == "wall":
        print("The machine is busy: wall times include waiting for a CPU; `--clock cpu` compares CPU time instead.")
    print(f"Ratios and targets compare {args.clock} time.")
    print()
    if REFERENCE_TOOL in results["tool_locations"]:
        print(
            f"pyheapdump from {results['tool_locations'][REFERENCE_TOOL]} (tree at commit {results['source_commit']})."
        )
        print()
    if skipped:
        print(f"Skipped (not importable): {'; '.join(skipped)}")
        print()

    all_checks: list[Check] = []
    with tempfile.TemporaryDirectory(prefix="pyheapdump-bench-") as workdir:
        runner = Runner(args.python, args.timeout, Path(workdir), environment, verbose=not args.quiet)
        for workload in chosen_workloads:
            size = sizes[workload]
            runner.log(f"{workload} (n={size:,})")
            baseline = measure_baseline(runner, workload, size, repeat)
            baseline_kb = statistics.median(baseline)
            named = set(args.workloads or [])
            left_out = [
                tool.name for tool in chosen_tools if workload in tool.only_when_named and workload not in named
            ]
            cells = [
                measure_cell(runner, tool, workload, size, repeat)
                for tool in chosen_tools
                if tool.name not in left_out
            ]
            checks = target_checks(workload, cells, args.timeout, args.clock)
            all_checks += checks
            print(format_table(workload, size, cells, baseline_kb, args.timeout, args.clock))
            if left_out:
                print(
                    f"Not run on this workload: {', '.join(left_out)} (many minutes per run at this size; "
                    f"`--workloads {workload}` runs it)."
                )
            print(flush=True)
            results["workloads"][workload] = {
                "size": size,
                "baseline_peak_rss_kb": baseline,
                "tools": {cell.tool: dataclasses.asdict(cell) for cell in cells},
                "checks": [dataclasses.asdict(check) for check in checks],
            }

    results["load_average_at_end"] = os.getloadavg()
    print(f"Load average at end: {' / '.join(f'{value:.2f}' for value in os.getloadavg())} (1 / 5 / 15 min).")
    print()
    print(_what_is_timed(chosen_tools))
    print()
    if all_checks:
        print("Targets (issue 2 for dumps and file size, issue 12 for loads):")
        for check in all_checks:
            print(check.line())
        verdicts = [check.verdict for check in all_checks]
        print(
            f"{verdicts.count('PASS')} PASS, {verdicts.count('FAIL')} FAIL, {verdicts.count('N/A')} N/A "
            f"(elapsed {(datetime.datetime.now(datetime.UTC) - started).total_seconds():.0f} s)"
        )
    else:
        print("Targets not checked: they compare pyheapdump with the others, and pyheapdump was not run.")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
