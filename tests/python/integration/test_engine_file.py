"""The dump file: a temporary name until complete, mode 0600, a default name that says what and when, no partial
file on failure, and a header that can be read without loading any object."""

from __future__ import annotations

import datetime
import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_support import PROGRAMS, TIMEOUT, child_env, last_json_line, run_program

import pyheapdump

DEFAULT_NAME = re.compile(r"^engine_file-(?P<pid>\d+)-(?P<time>\d{8}T\d{6}\.\d{6}Z)\.heapdump$")


def test_the_dump_is_written_under_a_hidden_temporary_name_and_appears_complete(tmp_path: Path) -> None:
    """A second process watches the directory while the program dumps: it sees the temporary name first, and the
    final name only once the file is whole."""
    process = subprocess.Popen([sys.executable, str(PROGRAMS / "engine_file.py"), "default", str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    listings: list[set[str]] = []
    final_header = None
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        running = process.poll() is None
        names = set(os.listdir(tmp_path))
        if not listings or names != listings[-1]:
            listings.append(names)
        finished = [n for n in names if DEFAULT_NAME.match(n)]
        if finished and final_header is None:
            final_header = pyheapdump.read_header(tmp_path / finished[0])  # at first sight, it is already whole
        if not running:
            break  # this listing was taken after the program ended
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, err
    report = last_json_line(out)
    final = Path(report["path"]).name
    temporary = {n for listing in listings for n in listing if n.startswith(f".{final}.tmp")}
    assert temporary, f"the watcher never saw a temporary name; listings: {listings}"
    assert not any(final in listing and listing & temporary for listing in listings)
    assert listings[-1] == {final}
    assert final_header is not None and final_header["warnings"] == []
    assert final_header["objects"] > report["payload"]


def test_the_default_name_is_program_pid_and_utc_time_in_the_given_directory(tmp_path: Path) -> None:
    before = datetime.datetime.now(datetime.UTC)
    report = last_json_line(run_program("engine_file.py", "default", tmp_path, 1000).stdout)
    after = datetime.datetime.now(datetime.UTC)
    path = Path(report["path"])
    assert path.parent == tmp_path
    match = DEFAULT_NAME.match(path.name)
    assert match, path.name
    assert int(match["pid"]) == report["pid"]
    stamp = datetime.datetime.strptime(match["time"], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=datetime.UTC)
    assert before - datetime.timedelta(seconds=1) <= stamp <= after
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_the_dump_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    report = last_json_line(run_program("engine_file.py", "default", tmp_path, 1000).stdout)
    assert stat.S_IMODE(os.stat(report["path"]).st_mode) == 0o600


def test_save_dump_without_a_path_or_directory_writes_into_the_current_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = pyheapdump.save_dump()
    assert isinstance(path, str)  # the path as a str: no pathlib in a failing program
    assert Path(path).parent.resolve() == tmp_path.resolve()
    assert path.endswith(".heapdump") and f"-{os.getpid()}-" in os.path.basename(path)
    assert os.path.exists(path)


def test_an_explicit_path_in_a_directory_that_does_not_exist_raises_and_leaves_nothing(tmp_path: Path) -> None:
    # An explicit path is taken as it is (a typo there should not make folders); directory= makes its folder.
    missing = tmp_path / "no" / "such" / "directory"
    with pytest.raises(pyheapdump.DumpWriteError, match="cannot write"):
        pyheapdump.save_dump(missing / "explicit.heapdump")
    assert list(tmp_path.iterdir()) == []


def test_a_path_that_cannot_be_written_raises_dump_write_error(tmp_path: Path) -> None:
    # /proc refuses new files even to root, unlike a chmod-ed directory
    with pytest.raises(pyheapdump.DumpWriteError, match="/proc"):
        pyheapdump.save_dump("/proc/pyheapdump-engine-test.heapdump")
    assert not Path("/proc/pyheapdump-engine-test.heapdump").exists()
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    with pytest.raises(pyheapdump.DumpWriteError):
        pyheapdump.save_dump(a_file / "under-a-file.heapdump")
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]


def test_a_disk_that_fills_up_mid_dump_raises_dump_write_error_and_leaves_no_partial_file(tmp_path: Path) -> None:
    report = last_json_line(run_program("engine_file.py", "fsize", tmp_path).stdout)
    assert report["error"] == "DumpWriteError"
    assert "File too large" in report["message"] and "\n" not in report["message"]
    assert list(tmp_path.iterdir()) == []  # neither the temporary file nor the final one


def test_read_header_gives_the_header_and_summary_without_loading_objects(tmp_path: Path) -> None:
    report = last_json_line(run_program("engine_file.py", "default", tmp_path, 1000).stdout)
    path = Path(report["path"])
    header = pyheapdump.read_header(path)
    assert header["format"] == "1.4"
    assert header["pyheapdump"] == pyheapdump.__version__
    assert header["python"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert header["implementation"] == "cpython"
    assert header["pid"] == report["pid"]
    assert header["argv"][0].endswith("engine_file.py") and header["argv"][1:] == ["default", str(tmp_path), "1000"]
    assert header["cwd"] == os.getcwd()
    assert header["hostname"] and header["platform"] and header["executable"]
    assert header["description"] == "written by engine_file.py"
    assert header["reason"] == "explicit" and header["exception"] is None
    assert header["threads"] == 1
    assert header["limits"]["max_objects"] > 0 and header["limits_hit"] == []
    assert header["objects"] > 1000 and header["sources"] >= 1
    assert header["file_size"] == path.stat().st_size
    written = datetime.datetime.fromisoformat(header["time"])
    assert written.utcoffset() == datetime.timedelta(0)
    # the objects are not read: a header stays readable when every chunk of objects is damaged
    data = bytearray(path.read_bytes())
    offset = 16 + 16 + int.from_bytes(data[20:24], "little")  # past the preamble and the HEADER chunk
    while offset + 16 <= len(data) - 24 and int.from_bytes(data[offset:offset + 4], "little") == 2:
        stored = int.from_bytes(data[offset + 4:offset + 8], "little")
        data[offset + 16] ^= 0xFF  # break the RECORDS chunk's crc
        offset += 16 + stored
    damaged = tmp_path / "damaged.heapdump"
    damaged.write_bytes(bytes(data))
    assert {k: v for k, v in pyheapdump.read_header(damaged).items() if k not in ("warnings", "file_size")} == {
        k: v for k, v in header.items() if k not in ("warnings", "file_size")}
    json.dumps(header)  # plain JSON data, ready for a tool to print


def test_save_dump_makes_the_directory_it_is_told_to_write_into(tmp_path: Path) -> None:
    directory = tmp_path / "not" / "there" / "yet"
    path = pyheapdump.save_dump(directory=directory, threads=False)
    assert os.path.dirname(path) == str(directory) and os.path.isfile(path)
    assert pyheapdump.load_dump(path).threads


def test_save_dump_into_a_directory_it_cannot_make_says_so_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(pyheapdump.DumpWriteError, match="cannot make the dump directory"):
        pyheapdump.save_dump(directory=blocker / "dumps", threads=False)
