"""Dropping a loaded dump never runs finalizers (`__del__`) of the dumped objects on the loading machine.

A trusted load makes the standard library's objects again from their dumped state, without their constructors. Their
`__del__` ran on that state when the dump was dropped: tempfile's NamedTemporaryFile closer unlinked the dumped path,
deleting a file of the loading machine (found while adding tests/python/programs/real_asyncio_service.py to the corpus,
whose asyncio transports tried to close the rebuilt loop's selector). The loader's core marks every object it makes as
already finalized, in every mode.
"""

from __future__ import annotations

from pathlib import Path

from engine_support import run_python

PROGRAM = """
import sys, tempfile, pyheapdump
def main(path, directory):
    scratch = tempfile.NamedTemporaryFile(prefix="victim-", dir=directory, delete=True)
    print(scratch.name)
    pyheapdump.save_dump(path, exc=False)
main(sys.argv[1], sys.argv[2])
"""

LOADER = """
import gc, sys, warnings, pyheapdump
warnings.simplefilter("ignore")
dump = pyheapdump.load_dump(sys.argv[1], trusted=sys.argv[2] == "trusted")
del dump
gc.collect()
print("dropped")
"""


def dumped_temporary_file(tmp_path: Path) -> tuple[Path, Path]:
    dump = tmp_path / "scratch.heapdump"
    result = run_python(["-c", PROGRAM, dump, tmp_path])
    assert result.returncode == 0, result.stderr
    victim = Path(result.stdout.splitlines()[-1])
    assert not victim.exists(), "the dumping process removed its temporary file at exit"
    victim.write_text("a file of the loading machine that happens to have the dumped path")
    return dump, victim


def test_a_safe_load_leaves_the_files_of_the_loading_machine_alone(tmp_path: Path) -> None:
    dump, victim = dumped_temporary_file(tmp_path)
    result = run_python(["-c", LOADER, dump, "safe"])
    assert result.returncode == 0 and "dropped" in result.stdout, result.stderr
    assert victim.exists()


def test_a_trusted_load_leaves_the_files_of_the_loading_machine_alone(tmp_path: Path) -> None:
    dump, victim = dumped_temporary_file(tmp_path)
    result = run_python(["-c", LOADER, dump, "trusted"])
    assert result.returncode == 0 and "dropped" in result.stdout, result.stderr
    assert victim.exists(), "dropping a trusted load deleted a file of the loading machine"
