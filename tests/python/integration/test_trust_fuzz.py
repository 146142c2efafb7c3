"""Fuzzing: every input a fuzzer ever found stays fixed, and a short run of each fuzz target finds nothing new.

The targets (fuzz/run.sh): `reader` (libFuzzer, ASan+UBSan, the C++ reader and value decoding), `decoder` (the same
with Python embedded and every record through DecodeRecord) and `load_dump` (atheris on pyheapdump.load_dump).
scripts/test.sh installs clang (Debian) and atheris (PyPI); the short runs are skipped only on a machine without them.
"""

from __future__ import annotations

import importlib.util
import os
import reprlib
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from engine_support import REPO, child_env
from trust_support import run_cases

import pyheapdump

REGRESSIONS = REPO / "fuzz" / "regressions"
SHORT_RUN_SECONDS = 20


def test_every_input_the_fuzzers_found_loads_or_is_refused_with_a_dump_error() -> None:
    inputs = sorted(REGRESSIONS.glob("*.input"))
    assert len(inputs) >= 4
    results = run_cases([(path.name, path) for path in inputs], per_case=20)
    bad = [result.describe() for result in results.values() if result.outcome not in {"loaded", "DumpFormatError"}]
    assert not bad, "\n".join(bad)


def test_a_header_that_is_not_utf8_is_refused_with_a_format_error_that_says_so() -> None:
    result = run_cases([("header", REGRESSIONS / "header-not-utf8.input")])["header"]
    assert result.outcome == "DumpFormatError"
    assert "header is not valid UTF-8" in result.error


def test_a_record_whose_type_leads_back_to_itself_loads_with_a_warning_instead_of_hanging() -> None:
    result = run_cases([("cycle", REGRESSIONS / "type-id-cycle-hang.input")], per_case=20)["cycle"]
    assert result.outcome == "loaded" and result.warnings == 1, result.describe()


def test_dropping_a_loaded_dump_whose_surrogates_refer_to_each_other_does_not_deadlock() -> None:
    # trust_load_cases collects garbage after each load, with a 20 s watchdog: the deadlock was a hang there.
    result = run_cases([("deadlock", REGRESSIONS / "surrogate-info-deadlock.input")], per_case=20)["deadlock"]
    assert result.outcome == "loaded", result.describe()


def _run_fuzz_targets(tmp_path: Path, *targets: str) -> str:
    # The built targets and the growing corpus are kept per interpreter under build/, so reruns skip the compile.
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    env = child_env(PYTHON=sys.executable, FUZZ_WORK=str(REPO / "build" / f"fuzz-test-{version}"))
    result = subprocess.run(["bash", str(REPO / "fuzz" / "run.sh"), str(SHORT_RUN_SECONDS), *targets],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900, check=False)
    assert result.returncode == 0, f"fuzz/run.sh exited {result.returncode}:\n{result.stderr[-6000:]}"
    return result.stderr


def _executions(log: str, target: str) -> int:
    line = next(line for line in log.splitlines() if line.startswith(f"== {target}: "))
    return int(line.split()[2])


@pytest.mark.skipif(shutil.which("clang++") is None or shutil.which("pkg-config") is None,
                    reason="clang is not installed (scripts/test.sh installs it: apt-get install clang)")
def test_a_short_libfuzzer_run_of_the_cpp_reader_finds_nothing(tmp_path: Path) -> None:
    log = _run_fuzz_targets(tmp_path, "reader", "decoder")
    assert _executions(log, "reader") > 1000, log
    assert _executions(log, "decoder") > 1000, log


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None,
                    reason="atheris is not installed (scripts/test.sh installs it from tests/requirements.txt)")
def test_a_short_atheris_run_of_load_dump_finds_nothing(tmp_path: Path) -> None:
    log = _run_fuzz_targets(tmp_path, "load_dump")
    assert _executions(log, "load_dump") > 500, log


def test_the_fuzz_script_refuses_an_unknown_target(tmp_path: Path) -> None:
    result = subprocess.run(["bash", str(REPO / "fuzz" / "run.sh"), "1", "nonsense"], capture_output=True, text=True,
                            env=child_env(FUZZ_WORK=os.fspath(tmp_path)), timeout=300, check=False)
    assert result.returncode == 2
    assert "unknown target nonsense" in result.stderr


def test_a_deque_record_claiming_to_be_a_dict_is_shown_by_reprlib_without_error() -> None:
    # pdb's `where` formats values with reprlib, which picks its formatting by the type's name.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dump = pyheapdump.load_dump(REGRESSIONS / "deque-class-named-dict-in-reprlib.input")
    for thread in dump.threads:
        for frame in thread.frames:
            reprlib.Repr().repr(frame.f_locals)
            reprlib.Repr().repr(frame.f_globals)
