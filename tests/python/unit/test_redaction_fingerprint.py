"""A redacted secret's fingerprint is a prefix of its SHA-256, as README's Redaction section promises: the native
SHA-256 that computes it (so the dumping side loads no OpenSSL) agrees with hashlib on every length around the block
edges and on bytes that are not text."""

from __future__ import annotations

import hashlib
import random

import pyheapdump._native as _native
from pyheapdump.dump.redaction import placeholder


def test_the_native_sha256_agrees_with_hashlib_on_every_length_up_to_three_blocks_and_on_random_bytes() -> None:
    generator = random.Random(12)
    for length in [*range(200), 1000, 4096, 65_537]:
        data = generator.randbytes(length)
        assert _native.sha256_hex(data) == hashlib.sha256(data).hexdigest(), f"length {length}"


def test_a_redacted_secret_shows_a_prefix_of_its_sha256_and_its_length() -> None:
    secret = "hunter2-\udcff-secret"  # a lone surrogate, as surrogateescape leaves undecodable bytes
    digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
    assert placeholder(secret) == f"<redacted:{digest[:12]} len={len(secret)}>"
    raw = b"\x00\xff token"
    assert placeholder(raw) == f"<redacted:{hashlib.sha256(raw).hexdigest()[:12]} len=8>"
