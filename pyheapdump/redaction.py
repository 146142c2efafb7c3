"""Secret redaction: dumps travel, so strings that look like credentials never reach the file.

Redaction is on by default (`pyheapdump.config.redact`). The walker asks `Redactor.redact` about every str and bytes
value that could hold a secret (a C++ pre-filter, native/secret_filter.h, passes every value that the default patterns
or one of `Redactor.literals` could match, and skips the rest), about captured reprs, and the dumper about the
description and argv. Each secret is replaced by a placeholder made from a hash of the secret and its
length, so two different secrets stay two different placeholders (a dict with two secret keys keeps both entries)
and the same secret is recognisable wherever it appears.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

# A match is replaced whole, or only its group named "secret" when it has one (the name stays readable).
DEFAULT_PATTERNS: tuple[str, ...] = (
    # Private key blocks, whole.
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    # AWS access key ids and secret keys.
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    r"(?i)aws_?secret_?access_?key\s*[=:]\s*(?P<secret>[A-Za-z0-9/+=]{40})",
    # GitHub tokens (classic and fine-grained), Slack tokens and webhooks.
    r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
    r"\bgithub_pat_[A-Za-z0-9_]{22,}\b",
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+",
    # JSON web tokens.
    r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    # password=..., token: ..., api_key=... pairs.
    r"(?i)(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|auth)[\"']?\s{0,3}[=:]\s{0,3}[\"']?"
    r"(?P<secret>[^\s\"',;&]{4,})",
    # user:password@ in URLs.
    r"://[^/\s:@]+:(?P<secret>[^/\s@]+)@",
    # Long high-entropy tokens: 32+ characters mixing upper case, lower case and digits.
    r"\b(?=[A-Za-z0-9_\-+/]*[A-Z])(?=[A-Za-z0-9_\-+/]*[a-z])(?=[A-Za-z0-9_\-+/]*[0-9])[A-Za-z0-9_\-+/]{32,}={0,2}",
)


@dataclasses.dataclass
class RedactionConfig:
    """What is redacted. `patterns` are regular expressions; a match is replaced by its placeholder.
    Values of environment variables at least `env_min_length` long that look like tokens (no whitespace, no path
    separators, so PATH or the working directory are not redacted everywhere) are replaced wherever they appear."""

    enabled: bool = True
    patterns: list[str] = dataclasses.field(default_factory=lambda: list(DEFAULT_PATTERNS))
    env_min_length: int = 12
    extra_secrets: list[str] = dataclasses.field(default_factory=list)


def placeholder(secret: str | bytes) -> str:
    data = secret.encode("utf-8", "surrogatepass") if isinstance(secret, str) else secret
    return f"<redacted:{hashlib.sha256(data).hexdigest()[:12]} len={len(secret)}>"


def _token_like_env_values(environ: Mapping[str, str], min_length: int) -> list[str]:
    separators = {"/", "\\", os.pathsep}
    return sorted(
        {
            value
            for value in environ.values()
            if len(value) >= min_length and not any(c.isspace() or c in separators for c in value)
        },
        key=len,
        reverse=True,
    )


class Redactor:
    """Replaces secrets in str and bytes values; returns None when a value holds none (the common case)."""

    def __init__(self, config: RedactionConfig, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        secrets = _token_like_env_values(os.environ if environ is None else environ, config.env_min_length)
        secrets += [s for s in config.extra_secrets if s]
        # Matched as they are, longest first; the walker's pre-filter looks for them too.
        self.literals: list[str] = sorted(set(secrets), key=len, reverse=True)
        self._sources = [re.escape(s) for s in self.literals] + list(config.patterns)
        self._compiled: dict[bool, list[re.Pattern[Any]]] = {}
        self.count = 0
        # The walker's C++ pre-filter knows what the default patterns and the literals need; a pattern the user
        # added may need anything.
        self.needs_every_string = list(config.patterns) != list(DEFAULT_PATTERNS)
        self._prefilter: Any = None
        if self.needs_every_string:
            self._patterns(False)  # the user's patterns: a bad one is an error now, not a failed redaction later
        else:
            # Compiling every pattern takes milliseconds, a dump's fixed cost; with the default patterns it waits for
            # the first value that the pre-filter passes (most dumps have none).
            from pyheapdump import _native

            self._prefilter = _native.SecretFilter([s.encode("utf-8", "surrogatepass") for s in self.literals])

    def _patterns(self, as_bytes: bool) -> list[re.Pattern[Any]]:
        compiled = self._compiled.get(as_bytes)
        if compiled is None:
            compiled = [re.compile(source.encode("utf-8") if as_bytes else source) for source in self._sources]
            self._compiled[as_bytes] = compiled
        return compiled

    @staticmethod
    def _replace(match: re.Match[Any], as_bytes: bool) -> Any:
        start, end = match.span("secret") if "secret" in match.re.groupindex else match.span()
        whole = match.group(0)
        secret = match.string[start:end]
        offset = match.start()
        mark = placeholder(secret)
        replacement = mark.encode("ascii") if as_bytes else mark
        return whole[: start - offset] + replacement + whole[end - offset :]

    def redact(self, value: str | bytes) -> str | bytes | None:
        as_bytes = isinstance(value, bytes)
        if self._prefilter is not None and not self._prefilter.may_hold_secret(value):
            return None
        total = 0
        for pattern in self._patterns(as_bytes):
            value, replaced = pattern.subn(lambda m: self._replace(m, as_bytes), value)  # type: ignore[call-overload]
            total += replaced
        if not total:
            return None
        self.count += total
        return value

    def redact_text(self, value: str) -> str:
        redacted = self.redact(value)
        return value if redacted is None else str(redacted)

    def redact_all(self, values: Iterable[str]) -> list[str]:
        return [self.redact_text(v) for v in values]
