"""Heap analysis through the CLI (top, paths, diff, stats' ids) and pyheapdump.analyze, on dumps written by a
separate process whose session cache leaks 10 MiB (tests/python/programs/analysis_leak.py)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from engine_support import PROGRAMS, last_json_line, run_program, run_python

import pyheapdump
from pyheapdump.analysis.report import report_data

LEAK_BYTES = 10 * 1024 * 1024
LEAK_PATH = "thread MainThread > serve() > local 'cache' > dict['user:42']"


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("analysis")
    return last_json_line(run_program("analysis_leak.py", directory).stdout)


def cli(*args: Any) -> str:
    result = run_python(["-m", "pyheapdump", *map(str, args)])
    assert result.returncode == 0, f"pyheapdump {args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def cli_json(*args: Any) -> Any:
    return json.loads(cli(*args, "--json"))


def test_top_names_the_leaking_session_and_its_cache(dumps: dict[str, Any]) -> None:
    rows = cli_json("top", dumps["new"], "-n", 10)
    assert all(set(row) == {"id", "type", "shallow", "retained", "path"} for row in rows)
    assert [row["retained"] for row in rows] == sorted((row["retained"] for row in rows), reverse=True)
    by_path = {row["path"]: row for row in rows}
    cache = by_path["thread MainThread > serve() > local 'cache'"]
    assert cache["type"] == "dict"
    assert cache["retained"] > LEAK_BYTES + 200 * 1000
    session = by_path[LEAK_PATH]
    assert session["type"] == "__main__.Session"
    assert LEAK_BYTES < session["retained"] < LEAK_BYTES + 1000
    payload = by_path[LEAK_PATH + " > Session.payload"]
    assert payload["type"] == "bytes" and payload["shallow"] == payload["retained"] > LEAK_BYTES

    text = cli("top", dumps["new"], "-n", 5)
    assert f"@{session['id']}" in text and LEAK_PATH in text


def test_top_by_type_counts_instances_and_their_retained_bytes(dumps: dict[str, Any]) -> None:
    rows = cli_json("top", dumps["new"], "--by-type", "-n", 0)
    assert all(set(row) == {"type", "count", "shallow", "retained"} for row in rows)
    sessions = next(row for row in rows if row["type"] == "__main__.Session")
    assert sessions["count"] == dumps["sessions_new"]
    # Every session's payload is its own: 10 MiB, plus 210 payloads of about 1 KB.
    assert LEAK_BYTES + 210 * 1000 < sessions["retained"] < LEAK_BYTES + 210 * 1200
    text = cli("top", dumps["new"], "--by-type")
    assert "__main__.Session" in text


def test_paths_to_a_type_reach_the_leak_first(dumps: dict[str, Any]) -> None:
    paths = cli_json("paths", dumps["new"], "__main__.Session", "--max", 3)
    assert len(paths) == 3
    first = paths[0]
    assert " > ".join(step["via"] for step in first) == LEAK_PATH
    assert all(set(step) == {"id", "type", "via"} for step in first)
    assert first[0] == {"id": None, "type": "thread", "via": "thread MainThread"}
    assert first[1]["type"] == "frame" and first[2]["type"] == "dict"
    assert first[-1]["type"] == "__main__.Session"
    text = cli("paths", dumps["new"], "__main__.Session", "--max", 1)
    assert LEAK_PATH in text and f"@{first[-1]['id']}" in text


def test_the_ids_stats_prints_are_ids_paths_accepts(dumps: dict[str, Any]) -> None:
    stats = cli("stats", dumps["new"])
    largest = stats.split("Largest objects")[1]
    match = re.search(r"^\s*@(\d+)\s+([\d,]+)\s+bytes\s*$", largest, re.MULTILINE)
    assert match, stats
    oid = int(match.group(1))
    [path] = cli_json("paths", dumps["new"], f"@{oid}")
    assert path[-1]["id"] == oid and path[-1]["type"] == "bytes"
    assert " > ".join(step["via"] for step in path) == LEAK_PATH + " > Session.payload"


def test_diff_shows_what_grew(dumps: dict[str, Any]) -> None:
    result = cli_json("diff", dumps["old"], dumps["new"])
    assert set(result) == {"types", "holders"}
    types = result["types"]
    assert all(set(row) == {"type", "count_old", "count_new", "bytes_old", "bytes_new"} for row in types)
    growth = [row["bytes_new"] - row["bytes_old"] for row in types]
    assert growth == sorted(growth, reverse=True)
    assert types[0]["type"] == "bytes" and growth[0] > LEAK_BYTES
    sessions = next(row for row in types if row["type"] == "__main__.Session")
    assert (sessions["count_old"], sessions["count_new"]) == (dumps["sessions_old"], dumps["sessions_new"])
    holder = result["holders"][0]
    assert holder["path"] == "thread MainThread > serve() > local 'cache'"
    assert holder["retained_new"] - holder["retained_old"] > LEAK_BYTES
    text = cli("diff", dumps["old"], dumps["new"])
    assert "__main__.Session" in text and "local 'cache'" in text


def test_an_unknown_target_is_a_one_line_error(dumps: dict[str, Any]) -> None:
    for target in ("@999999999", "no.such.Type"):
        result = run_python(["-m", "pyheapdump", "paths", dumps["new"], target])
        assert result.returncode == 1
        assert result.stderr.startswith("pyheapdump: error: ") and result.stderr.count("\n") == 1, result.stderr


def test_analyze_answers_in_python(dumps: dict[str, Any]) -> None:
    analysis = pyheapdump.analyze(Path(dumps["new"]))
    summary = analysis.summary()
    assert summary["reachable"] == summary["objects"]
    assert summary["retained"] > LEAK_BYTES
    # The leak suspects (10% of the heap or more) end at the session that holds the 10 MiB.
    assert any(row["path"].startswith(LEAK_PATH) for row in summary["suspects"])
    [path] = analysis.paths("__main__.Session", max=1)
    session = analysis.retained(path[-1]["id"])
    assert session is not None and session["path"] == LEAK_PATH
    cache = analysis.retained(session["dominator"])
    assert cache is not None and cache["path"] == "thread MainThread > serve() > local 'cache'"
    dominated = analysis.dominated(cache["id"])
    assert dominated[0]["id"] == session["id"]
    assert len(dominated) > 200  # each small session, and each key string
    assert analysis.retained(999_999_999) is None


def test_heap_mode_roots_modules_and_what_only_the_collector_knew(tmp_path: Path) -> None:
    written = last_json_line(run_program("analysis_heap.py", tmp_path / "heap.heapdump").stdout)
    header = pyheapdump.read_header(written["path"])
    assert header["heap"]["unreached_count"] > 0
    rows = cli_json("top", written["path"], "-n", 10)
    by_path = {row["path"]: row for row in rows}
    # Every unreached root has that one-step path: the Node is the one of its type.
    node = next(row for row in rows if row["type"] == "__main__.Node")
    assert node["path"] == "unreached (only the garbage collector knew of it)"
    assert node["retained"] > 3 * 1024 * 1024
    cache = by_path["module json > global '_leaky_cache'"]
    assert cache["type"] == "list" and cache["retained"] > 2 * 1024 * 1024
    [path] = cli_json("paths", written["path"], "__main__.Node", "--max", 1)
    assert [step["via"] for step in path] == ["unreached (only the garbage collector knew of it)"]
    # What a reached class holds (its methods, in its __dict__) is reached through it, though the dump writes the
    # class by name: no unreached root. A few functions only C code holds stay (codec error handlers); the methods
    # of the classes of the modules the program imported were thousands (2,144 on 3.11).
    unreached = [root for root in pyheapdump.analyze(written["path"]).roots()
                 if root["root"] == "unreached (only the garbage collector knew of it)"]
    assert len(unreached) == header["heap"]["unreached_count"]
    functions = [root for root in unreached if root["type"] == "function"]
    assert len(functions) < 50, f"{len(functions)} functions are unreached roots"
    # The dump still loads: the extra roots are data like any other.
    dump = pyheapdump.load_dump(written["path"])
    assert [thread.name for thread in dump.threads] == ["MainThread"]


def _chromium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    browser = shutil.which("chromium")
    assert browser, "the report test needs Debian's chromium (scripts/_setup.sh installs it)"
    return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_report_is_one_self_contained_page_a_browser_draws(dumps: dict[str, Any], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert f"wrote {page}" in cli("report", dumps["new"], "-o", page)
    text = page.read_text()
    # Nothing from the network, and nothing from the dump parsed as markup: no src or href at all.
    assert not re.search(r"\b(src|href)\s*=", text) and "http" not in text.replace("http-equiv", "")
    dom = _chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    rendered = dom.stdout
    assert "This report draws itself" not in rendered  # the script ran
    assert "Leak suspects" in rendered
    assert html.escape(LEAK_PATH + " > Session.payload", quote=False) in rendered
    # The dominator tree is open down to the leak; the treemap has a box for it; the types and the threads show.
    assert re.search(r"__main__\.Session @\d+</span><span class=\"via\">dict\['user:42'\]", html.unescape(rendered))
    assert 'class="tm"' in rendered
    assert "<td>__main__.Session</td>" in rendered
    assert "thread MainThread" in rendered and "serve()" in rendered
    assert '<td class="path">cache</td>' in rendered
    # What the tree leaves out is counted and sized: the roots' line adds up with the children listed above it.
    left_out = re.findall(r"\u2026 ([\d,]+) smaller ones? not listed", html.unescape(rendered))
    assert left_out, "the tree's 'smaller ones not listed' lines give no count"
    analysis = pyheapdump.analyze(dumps["new"])
    listed = len(report_data(analysis)["tree"]["children"])
    assert int(left_out[-1].replace(",", "")) + listed == analysis.dominated_count()
    shot = tmp_path / "report.png"
    taken = _chromium("--window-size=1300,1400", f"--screenshot={shot}", page.as_uri())
    assert taken.returncode == 0, taken.stderr
    assert shot.stat().st_size > 20_000  # a drawn page, not a blank one


def test_report_shows_hostile_strings_as_text(tmp_path: Path) -> None:
    written = last_json_line(run_program("analysis_hostile_report.py", tmp_path / "hostile.heapdump").stdout)
    page = tmp_path / "report.html"
    cli("report", written["path"], "-o", page)
    dom = _chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr
    assert "This report draws itself" not in dom.stdout  # the data did not end the script early
    assert not re.search(r"<img\b", dom.stdout, re.IGNORECASE)  # no element made from the dump's text
    assert "&lt;/script&gt;&lt;img src=x onerror=PWNED&gt;" in dom.stdout  # shown as text


def test_install_heap_writes_whole_heap_dumps(tmp_path: Path) -> None:
    result = run_python([PROGRAMS / "analysis_heap_hook.py", tmp_path])
    assert result.returncode == 1 and "RuntimeError: boom" in result.stderr
    [dump] = tmp_path.glob("*.heapdump")
    assert "heap" in pyheapdump.read_header(dump)
    rows = cli_json("top", dump, "-n", 5)
    held = next(row for row in rows if row["path"] == "module json > global '_held_by_a_module'")
    assert held["type"] == "bytearray" and held["retained"] > 1024 * 1024
