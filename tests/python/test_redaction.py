"""Secrets never reach the file: redaction on by default, lossless for distinct secrets, configurable."""

from __future__ import annotations

import subprocess
import sys

from debug_support import child_env

import pyheapdump
import pyheapdump.config
from pyheapdump.redaction import RedactionConfig, placeholder

GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"


def dump_locals(tmp_path, name="secrets.heapdump", **kwargs):
    def frame_with_secrets():
        # The locals are the point: the dump reads them from this frame.
        settings = {  # noqa: F841
            "password=hunter22": "first",
            "password=correcthorse": "second",
            "dsn": "postgres://app:s3cr3t-pw@db.internal/orders",
            "github": GITHUB_TOKEN,
            "key": PRIVATE_KEY,
            "aws": "AKIAIOSFODNN7EXAMPLE",
        }
        header = b"Authorization: token=abcdef0123456789"  # noqa: F841
        plain = "an ordinary sentence, nothing to hide"  # noqa: F841
        return pyheapdump.save_dump(tmp_path / name, threads=False, description="api_key=sk_test_51Habc", **kwargs)

    path = frame_with_secrets()
    return path, (tmp_path / name).read_bytes()


def test_secrets_are_not_in_the_file_and_distinct_secrets_stay_distinct(tmp_path):
    path, _ = dump_locals(tmp_path)
    dump = pyheapdump.load_dump(path)
    values = dump.threads[0].frames[-1].f_locals
    settings = values["settings"]
    assert len(settings) == 6, "two different secret keys must stay two entries"
    assert "password=" + placeholder("hunter22") in settings
    assert "password=" + placeholder("correcthorse") in settings
    assert settings["dsn"] == f"postgres://app:{placeholder('s3cr3t-pw')}@db.internal/orders"
    assert settings["github"] == placeholder(GITHUB_TOKEN)
    assert "MIIE" not in settings["key"]
    assert settings["aws"] == placeholder("AKIAIOSFODNN7EXAMPLE")
    assert values["header"] == b"Authorization: token=" + placeholder("abcdef0123456789").encode()
    assert values["plain"] == "an ordinary sentence, nothing to hide"
    assert dump.metadata["redaction"] is True
    assert dump.metadata["redactions"] >= 8
    assert "sk_test_51Habc" not in dump.metadata["description"]


def test_redacted_values_do_not_appear_anywhere_in_the_decompressed_file(tmp_path):
    path, _ = dump_locals(tmp_path)
    reader = pyheapdump._native.DumpReader(str(path))
    everything = repr(reader.records()) + reader.header_json() + reader.summary_json()
    for secret in ("hunter22", "correcthorse", "s3cr3t-pw", GITHUB_TOKEN, "MIIEowIBAAKCAQEA", "AKIAIOSFODNN7EXAMPLE",
                   "abcdef0123456789", "sk_test_51Habc"):
        assert secret not in everything, secret


def test_environment_secrets_are_redacted_wherever_they_appear(tmp_path):
    program = (
        "import os, sys, pyheapdump\n"
        "def run():\n"
        "    copy = 'token in a log line: ' + os.environ['SERVICE_SECRET'] + ' end'\n"
        "    return pyheapdump.save_dump(sys.argv[1], threads=False)\n"
        "run()\n"
    )
    env = {"SERVICE_SECRET": "Zq8kLmN3pQ7rStUvWx"}
    target = tmp_path / "env.heapdump"
    subprocess.run([sys.executable, "-c", program, str(target)], check=True, env=child_env(**env), timeout=60)
    dump = pyheapdump.load_dump(target)
    copy = dump.threads[0].frames[-1].f_locals["copy"]
    assert copy == f"token in a log line: {placeholder('Zq8kLmN3pQ7rStUvWx')} end"


def test_redaction_can_be_switched_off_per_dump_and_by_config(tmp_path):
    path, _ = dump_locals(tmp_path, name="clear.heapdump", redact=False)
    dump = pyheapdump.load_dump(path)
    assert dump.threads[0].frames[-1].f_locals["settings"]["github"] == GITHUB_TOKEN
    assert dump.metadata["redaction"] is False
    previous = pyheapdump.config.redaction
    pyheapdump.config.redaction = RedactionConfig(enabled=False)
    try:
        path, _ = dump_locals(tmp_path, name="config-off.heapdump")
    finally:
        pyheapdump.config.redaction = previous
    assert pyheapdump.read_header(path)["redaction"] is False


def test_extra_patterns_and_secrets_are_honoured(tmp_path):
    config = RedactionConfig(patterns=[r"order-\d{6}"], extra_secrets=["an ordinary sentence"])
    path, _ = dump_locals(tmp_path, redact=config)
    values = pyheapdump.load_dump(path).threads[0].frames[-1].f_locals
    assert values["plain"] == placeholder("an ordinary sentence") + ", nothing to hide"


def test_info_says_whether_redaction_was_on(tmp_path):
    path, _ = dump_locals(tmp_path)
    shown = subprocess.run([sys.executable, "-m", "pyheapdump", "info", str(path)], capture_output=True, text=True,
                           timeout=60, cwd=tmp_path, env=child_env())
    assert shown.returncode == 0, shown.stderr
    assert "redact" in shown.stdout.lower()
