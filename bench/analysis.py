"""Benchmark of the heap analysis (issue 11): how long `pyheapdump.analyze` takes on dumps of 1M, 3M and 10M objects
and how much memory it needs, against the time to read the same records and do nothing with them.

    python bench/analysis.py                       # 1M, 3M, 10M objects (about 5 minutes on 2 cores)
    python bench/analysis.py --sizes 200000        # a smoke run
    python bench/analysis.py --json OUT.json       # every figure, raw

Every figure comes from a fresh child process (its ru_maxrss is its own peak):
- the dump child builds a dict of N/3 str keys -> {id, score, name} dicts (3 records an entry) and saves it;
- the read child reads every record in C++ and drops it (`_native.read_every_record`): the floor;
- the analysis child runs `pyheapdump.analyze(path)` (the reference graph, dominators, retained sizes, shortest
  paths) and then `.top(20)` (which names the 20 paths); its peak memory minus the read child's is the analysis'
  own, per object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _peak_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_dump(path: str, objects: int) -> dict[str, Any]:
    import pyheapdump

    entries = max(1, objects // 3)
    service = {f"key-{i}": {"id": i, "score": i * 0.5, "name": f"name-{i}"} for i in range(entries)}
    start = time.perf_counter()
    # Limits raised so that the whole heap is dumped (the defaults cut a dict at 1M items, a dump at 1 GiB).
    pyheapdump.save_dump(path, threads=False, max_objects=objects * 2, max_items=objects, max_bytes=1 << 40,
                         time_limit=600.0)
    elapsed = time.perf_counter() - start
    return {"dump_seconds": elapsed, "entries": len(service), "file_bytes": os.path.getsize(path)}


def child_read(path: str) -> dict[str, Any]:
    from pyheapdump import _native

    before = _peak_bytes()
    start, cpu = time.perf_counter(), time.process_time()
    count = _native.read_every_record(path)
    return {"read_seconds": time.perf_counter() - start, "read_cpu": time.process_time() - cpu, "records": count,
            "baseline_peak": before, "read_peak": _peak_bytes()}


def child_analyze(path: str) -> dict[str, Any]:
    import pyheapdump
    from pyheapdump import _native  # noqa: F401 (imported before the baseline is taken)

    before = _peak_bytes()
    start, cpu = time.perf_counter(), time.process_time()
    analysis = pyheapdump.analyze(path)
    built = time.perf_counter() - start
    built_cpu = time.process_time() - cpu
    top = analysis.top(20)
    total = time.perf_counter() - start
    summary = analysis.summary()
    return {"analyze_seconds": built, "analyze_cpu": built_cpu, "analyze_and_top_seconds": total,
            "baseline_peak": before, "analyze_peak": _peak_bytes(), "objects": summary["objects"],
            "reachable": summary["reachable"], "references": summary["references"], "steps": summary["seconds"],
            "top": top[0]["path"] if top else None}


def run_child(mode: str, *args: str) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, __file__, "--child", mode, *args], capture_output=True, text=True,
                            env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{mode} child failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(objects: int, directory: Path) -> dict[str, Any]:
    path = directory / f"bench-{objects}.heapdump"
    row: dict[str, Any] = {"target_objects": objects}
    row.update(run_child("dump", str(path), str(objects)))
    row.update(run_child("read", str(path)))
    analysed = run_child("analyze", str(path))
    row.update(analysed)
    row["analysis_bytes_per_object"] = (analysed["analyze_peak"] - analysed["baseline_peak"]) / analysed["objects"]
    path.unlink()
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,3000000,10000000", help="object counts, comma-separated")
    parser.add_argument("--json", metavar="OUT", help="write every figure to OUT")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, *rest = args.child
        if mode == "dump":
            print(json.dumps(child_dump(rest[0], int(rest[1]))))
        elif mode == "read":
            print(json.dumps(child_read(rest[0])))
        else:
            print(json.dumps(child_analyze(rest[0])))
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="pyheapdump-analysis-bench-") as directory:
        for size in (int(float(s)) for s in args.sizes.split(",")):
            print(f"measuring {size:,} objects ...", file=sys.stderr, flush=True)
            rows.append(measure(size, Path(directory)))
    print("| objects | file | dump | read records (cpu) | analyze (cpu) | analyze + top 20 | analyze / read | "
          "analysis memory | bytes/object |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['objects']:,} | {row['file_bytes'] / 1e6:,.0f} MB | {row['dump_seconds']:.2f} s "
              f"| {row['read_seconds']:.2f} s ({row['read_cpu']:.2f}) "
              f"| {row['analyze_seconds']:.2f} s ({row['analyze_cpu']:.2f}) "
              f"| {row['analyze_and_top_seconds']:.2f} s "
              f"| {row['analyze_seconds'] / row['read_seconds']:.2f}x "
              f"| {(row['analyze_peak'] - row['baseline_peak']) / 1e6:,.0f} MB "
              f"| {row['analysis_bytes_per_object']:.1f} |")
    print("\nsteps of analyze (cpu seconds): " + "; ".join(
        f"{row['objects']:,}: " + ", ".join(f"{name} {value:.2f}" for name, value in row["steps"].items())
        for row in rows))
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        scale = last["objects"] / first["objects"]
        print(f"\n{scale:.1f}x the objects took {last['analyze_seconds'] / first['analyze_seconds']:.2f}x the time "
              f"(near-linear: about {scale:.1f}x)")
    biggest = max(rows, key=lambda r: r["objects"])
    ok_time = biggest["analyze_seconds"] <= 10 and biggest["objects"] >= 10_000_000
    ok_memory = biggest["analysis_bytes_per_object"] <= 64
    print(f"target 10 s for 10M objects: {'PASS' if ok_time else 'FAIL (or fewer than 10M objects measured)'}; "
          f"target about 64 bytes/object: {'PASS' if ok_memory else 'FAIL'}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
