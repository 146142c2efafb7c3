"""Fixtures shared by the test modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv with no packages at all (no numpy, pandas, SQLAlchemy, Flask, pytest): where a
    dump is loaded on a machine that lacks the dumped program's libraries. Run it with this tree on PYTHONPATH."""
    venv = tmp_path_factory.mktemp("bare-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import numpy"], capture_output=True, timeout=60)
    assert probe.returncode != 0, "the bare venv can import numpy: it must not see the test venv's packages"
    return python
