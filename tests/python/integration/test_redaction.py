"""Secrets never reach the file: redaction on by default, lossless for distinct secrets, configurable."""

from __future__ import annotations

import subprocess
import sys

from debug_support import child_env

import pyheapdump
import pyheapdump.config
from pyheapdump.dump.redaction import RedactionConfig, Redactor, placeholder
from pyheapdump.load.dumpfile import open_dump_file

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
    reader = open_dump_file(path)
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


# Paths of the kind production machines are full of: random-looking folder names are not secrets.
PRODUCTION_PATHS = [
    "/tmp/x.CuM7KC/p/tests/python/programs/engine_scene.py",
    "/tmp/pytest-of-root/pytest-3/Q7bX2mK9wR4tZ8vN1cLp0/app/handlers/orders.py",
    "/root/.cache/pypoetry/virtualenvs/orders-AbC12dEf-py3.11/lib/python3.11/site-packages/flask/app.py",
    "/nix/store/3x7k9a2b8c1d0e5f6g7h8i9j0k1l2m3n-python3-3.11.7/lib/python3.11/json/decoder.py",
    "/home/ci/.cache/bazel/_bazel_ci/9f8e7d6c5b4a39281706f5e4d3c2b1a0/execroot/__main__/bazel-out/k8-fastbuild/bin/app.py",
    "/var/lib/kubelet/pods/7d9f8b6c-4x2k-9pQ1-Rz7m-AbC123dEf456/volumes/app/worker.py",
]


def test_paths_with_random_looking_folders_are_not_taken_for_secrets():
    redactor = Redactor(RedactionConfig(), environ={})
    for path in PRODUCTION_PATHS:
        assert redactor.redact(path) is None, path
        assert redactor.redact(f"File \"{path}\", line 12, in handle") is None, path
    token = "Zq8kLmN3pQ7rStUvWx2yA4bC6dE8fG0hJ"
    assert redactor.redact(f"https://api.example.com/v1/{token}/items") == (
        f"https://api.example.com/v1/{placeholder(token)}/items")
    assert redactor.redact(token) == placeholder(token)


def test_a_program_in_a_random_looking_folder_keeps_its_filenames_and_module_names(tmp_path):
    home = tmp_path / "x.CuM7KC" / "Q7bX2mK9wR4tZ8vN1cLp0srv"
    package = home / "svc_Zq8kLmN3pQ7rStUvWx2yA4bC6dE8"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "handlers.py").write_text(
        "import sys, pyheapdump\n"
        "def handle(order):\n"
        "    here = __file__\n"
        "    return pyheapdump.save_dump(sys.argv[1], threads=False)\n")
    (home / "main.py").write_text(
        "from svc_Zq8kLmN3pQ7rStUvWx2yA4bC6dE8 import handlers\n"
        "handlers.handle({'id': 7})\n")
    target = tmp_path / "paths.heapdump"
    subprocess.run([sys.executable, str(home / "main.py"), str(target)], check=True, env=child_env(), timeout=60,
                   cwd=home)
    dump = pyheapdump.load_dump(target)
    frames = dump.threads[0].frames
    handler = frames[-1]
    assert handler.f_code.co_filename == str(package / "handlers.py")
    assert frames[0].f_code.co_filename == str(home / "main.py")
    assert handler.f_locals["here"] == str(package / "handlers.py")
    assert handler.f_globals["__name__"] == "svc_Zq8kLmN3pQ7rStUvWx2yA4bC6dE8.handlers"
    assert str(package / "handlers.py") in dump.sources
    assert pyheapdump.read_header(target)["main_file"] == str(home / "main.py")
