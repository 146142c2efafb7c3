"""The walker asks the Python redactor about every value that could hold a secret, and only about those.

Asking about every string costs more than the rest of a dump, so the walker's C++ pre-filter (native/secret_filter.h)
decides which values reach `Redactor.redact`. These tests count what reaches it during real dumps: a value that the
default patterns or a literal secret would change must always be asked about; ordinary names, timestamps and numbers
must not be.
"""

from __future__ import annotations

import random
import string

import pytest

import pyheapdump
from pyheapdump.dump.redaction import RedactionConfig, Redactor, placeholder


@pytest.fixture
def asked(monkeypatch):
    """Every value the walker hands to Redactor.redact during the test."""
    values: list[str | bytes] = []
    original = Redactor.redact

    def counting(self, value):
        values.append(value)
        return original(self, value)

    monkeypatch.setattr(Redactor, "redact", counting)
    return values


def dump_values(path, values, **kwargs):
    def frame_holding(values):
        return pyheapdump.save_dump(path, threads=False, **kwargs)

    return frame_holding(values)


def loaded_values(path):
    return pyheapdump.load_dump(path).threads[0].frames[-1].f_locals["values"]


def test_ordinary_names_timestamps_and_numbers_are_not_sent_to_the_redactor(tmp_path, asked):
    ordinary = [f"record-{i:06d}" for i in range(300)] + [
        "2024-01-01 12:00:00",
        "http_status:200",
        "user@example.com",
        "x=1, y=2",
        "/usr/lib/python3.11/site-packages/some_package/module.py",
        "Decimal('12.34')",
        "an ordinary sentence, nothing to hide at all",
    ]
    secrets = ["password=hunter22", "AKIAIOSFODNN7EXAMPLE", "token: abcdef0123456789"]
    path = dump_values(tmp_path / "q.heapdump", ordinary + secrets)
    asked_set = set(asked)
    assert not asked_set & set(ordinary)
    assert set(secrets) <= asked_set
    loaded = loaded_values(path)
    assert loaded[: len(ordinary)] == ordinary
    assert loaded[len(ordinary) :] == [
        "password=" + placeholder("hunter22"),
        placeholder("AKIAIOSFODNN7EXAMPLE"),
        "token: " + placeholder("abcdef0123456789"),
    ]


def test_literal_secrets_are_found_by_the_walker_without_asking_about_every_string(tmp_path, asked, monkeypatch):
    monkeypatch.setenv("SERVICE_TOKEN", "Zq8kLmN3pQ7rStUvWx")
    config = RedactionConfig(extra_secrets=["hunter2"])
    values = ["log line Zq8kLmN3pQ7rStUvWx end", "the hunter2 case", b"raw hunter2 bytes", "record-000123"]
    path = dump_values(tmp_path / "literal.heapdump", values, redact=config)
    assert set(values[:3]) <= set(asked)
    assert "record-000123" not in asked
    assert loaded_values(path) == [
        f"log line {placeholder('Zq8kLmN3pQ7rStUvWx')} end",
        f"the {placeholder('hunter2')} case",
        b"raw " + placeholder("hunter2").encode() + b" bytes",
        "record-000123",
    ]


def test_a_pattern_of_the_users_own_sees_every_string(tmp_path, asked):
    config = RedactionConfig(patterns=[r"record-\d{6}"])
    path = dump_values(tmp_path / "own.heapdump", ["record-000123", "plain"], redact=config)
    assert {"record-000123", "plain"} <= set(asked)
    assert loaded_values(path) == [placeholder("record-000123"), "plain"]


# The shortest or most unusual text each default pattern matches, where the pre-filter's conditions are tightest.
EDGE_SECRETS = [
    "AKIAIOSFODNN7EXAMPLE",  # exactly AKIA + 16
    "ASIAIOSFODNN7EXAMPLE",
    "ghp_" + "a" * 36,  # exactly gh?_ + 36
    "github_pat_" + "a" * 22,
    "xoxb-1234567890",  # exactly xox?- + 10
    "eyJabcdefgh.eyJabcdefgh.abcdefgh",  # the shortest JWT
    "Ab1" + "x" * 29,  # 32 characters mixing upper case, lower case and digits
    "a/" + "b+c-d_eZ9" * 4,  # the same with the token pattern's punctuation (one segment a token by itself)
    "pwd=abcd",
    "AUTH=abcd",
    "api_key'=abcd",  # a quote between the name and the '='
    'auth"   :abcd',  # a quote and three blanks
    "auth\x1c=abcd",  # a str's \s includes \x1c..\x1f
    "auth\u00a0=abcd",  # and Unicode spaces
    "to\u212aen=abcd",  # re.IGNORECASE: the Kelvin sign matches k
    "\u017fecret=abcd",  # and the long s matches s
    "aws_secret_access_key     =" + "a" * 40,
    "://u:p@",  # a URL's user and password, nothing else
    "see https://hooks.slack.com/services/T000/B000/XXXX",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIE",
]


def test_the_tightest_match_of_every_default_pattern_is_sent_to_the_redactor(tmp_path, asked):
    values: list[str | bytes] = EDGE_SECRETS + [s.encode("utf-8") for s in EDGE_SECRETS]
    redactor = Redactor(RedactionConfig())
    must_ask = [v for v in values if redactor.redact(v) is not None]
    assert len(must_ask) >= 2 * len(EDGE_SECRETS) - 4  # bytes patterns see no Unicode spaces or case folds
    asked.clear()
    dump_values(tmp_path / "edges.heapdump", values)
    assert [v for v in must_ask if v not in set(asked)] == []


PIECES = [
    "password", "PassWd", "pwd", "Secret", "TOKEN", "api_key", "api-key", "ApiKey", "access_key", "accesskey",
    "auth", "aws_secret_access_key", "=", ":", " ", "  ", "\t", '"', "'", "://", "@", "/", "-", "_", "+", ".",
    "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "AKIA", "ASIA", "ghp_", "gho_", "ghx_",
    "github_pat_", "xoxb-", "xoxz-", "eyJ", "https://hooks.slack.com/services/", "é", "\u212a", "\u017f", "\u0131",
    "\u00a0", "\x1c", "to\u212aen", "record-000123", "12:00:00",
]  # fmt: skip


def random_value(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 6)):
        if rng.random() < 0.5:
            parts.append(rng.choice(PIECES))
        else:
            alphabet = rng.choice([string.ascii_uppercase + string.digits, string.ascii_letters + string.digits,
                                   string.ascii_lowercase, string.digits, string.ascii_letters + string.digits + "-_"])
            parts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 45))))
    return "".join(parts)


def test_every_value_the_default_patterns_would_change_is_sent_to_the_redactor(tmp_path, asked):
    rng = random.Random(20261122)
    texts = list(dict.fromkeys(random_value(rng) for _ in range(4000)))
    values: list[str | bytes] = texts + [t.encode("utf-8") for t in texts]
    redactor = Redactor(RedactionConfig())
    must_ask = [v for v in values if redactor.redact(v) is not None]
    assert len(must_ask) > 500, "the generator should make plenty of secrets"
    asked.clear()
    dump_values(tmp_path / "random.heapdump", values)
    asked_set = set(asked)
    missed = [v for v in must_ask if v not in asked_set]
    assert not missed, missed[:10]
    # The filter is worth having: most generated values that hold no secret are not asked about.
    harmless = [v for v in values if v not in set(must_ask)]
    assert sum(v in asked_set for v in harmless) < len(harmless) / 2
