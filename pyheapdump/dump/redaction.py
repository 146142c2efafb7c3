"""Secret redaction: dumps travel, so strings that look like credentials never reach the file.

Redaction is on by default (`pyheapdump.config.redact`). The walker asks `Redactor.redact` about every str and bytes
value that could hold a secret (a C++ pre-filter, native/secret_filter.h, passes every value that the default patterns
or one of `Redactor.literals` could match, and skips the rest), about captured reprs, and the dumper about the
description and argv. Each secret is replaced by a placeholder made from a hash of the secret and its
length, so two different secrets stay two different placeholders (a dict with two secret keys keeps both entries)
and the same secret is recognisable wherever it appears.

Imported with the package, by every process that installs the hooks: no dataclasses or typing here.
"""

from __future__ import annotations

import os
import re

import pyheapdump._native as _native
from pyheapdump._valueclass import ValueClass

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
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
    # Long high-entropy tokens: 32+ characters mixing upper case, lower case and digits (see HIGH_ENTROPY_TOKEN).
    r"\b(?=[A-Za-z0-9_\-+/]*[A-Z])(?=[A-Za-z0-9_\-+/]*[a-z])(?=[A-Za-z0-9_\-+/]*[0-9])[A-Za-z0-9_\-+/]{32,}={0,2}",
)
# The token pattern also matches file paths whose folders have random-looking names (mktemp folders, Poetry and tox
# environments, Nix store hashes, Bazel sandboxes, pod names): base64 secrets may hold '/', so the character class
# cannot leave it out. A match that spans a '/' is looked at by segment (`_token_in_path`): in a URL only the segments
# that are tokens by themselves are secrets; in a file path (a segment is a lowercase word) none is.
HIGH_ENTROPY_TOKEN = DEFAULT_PATTERNS[-1]
_TOKEN_SEGMENT = re.compile(r"(?=[^/]*[A-Z])(?=[^/]*[a-z])(?=[^/]*[0-9])[A-Za-z0-9_\-+=]{20,}")
_PATH_WORD = re.compile(r"[a-z][a-z_-]{2,}")


def _token_in_path(match: re.Match[Any]) -> list[tuple[int, int]] | None:
    """For a token match that spans '/': the spans of its secret segments (maybe none); None when it is not a path."""
    text = match.group(0)
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    if "/" not in text:
        return None
    before = match.string[: match.start()]
    if isinstance(before, bytes):
        before = before.decode("latin-1")
    word_before = before.rsplit(None, 1)[-1] if before.strip() else ""
    segments, spans, offset = text.split("/"), [], match.start()
    for segment in segments:
        if _TOKEN_SEGMENT.fullmatch(segment):
            spans.append((offset, offset + len(segment)))
        offset += len(segment) + 1
    if "://" in word_before:
        return spans
    if any(_PATH_WORD.fullmatch(segment) for segment in segments):
        return []
    return None


class RedactionConfig(ValueClass):
    """What is redacted. `patterns` are regular expressions; a match is replaced by its placeholder.
    Values of environment variables at least `env_min_length` long that look like tokens (no whitespace, no path
    separators, so PATH or the working directory are not redacted everywhere) are replaced wherever they appear.
    `patterns` defaults to a new list of DEFAULT_PATTERNS, `extra_secrets` to a new empty list."""

    __slots__ = ("enabled", "patterns", "env_min_length", "extra_secrets")

    def __init__(self, enabled: bool = True, patterns: list[str] | None = None, env_min_length: int = 12,
                 extra_secrets: list[str] | None = None) -> None:
        self.enabled = enabled
        self.patterns = list(DEFAULT_PATTERNS) if patterns is None else patterns
        self.env_min_length = env_min_length
        self.extra_secrets = [] if extra_secrets is None else extra_secrets


def placeholder(secret: str | bytes) -> str:
    data = secret.encode("utf-8", "surrogatepass") if isinstance(secret, str) else secret
    return f"<redacted:{_native.sha256_hex(data)[:12]} len={len(secret)}>"


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
        # Strings that are never secrets whatever they look like: code filenames, module names and paths
        # (`exempt_program_names`); the walker meets them as str values like any other.
        self.exempt: set[str] = set()
        # The walker's C++ pre-filter knows what the default patterns and the literals need; a pattern the user
        # added may need anything.
        self.needs_every_string = list(config.patterns) != list(DEFAULT_PATTERNS)
        self._prefilter: Any = None
        if self.needs_every_string:
            self._patterns(False)  # the user's patterns: a bad one is an error now, not a failed redaction later
        else:
            # Compiling every pattern takes milliseconds, a dump's fixed cost; with the default patterns it waits for
            # the first value that the pre-filter passes (most dumps have none).
            import pyheapdump._native as _native

            self._prefilter = _native.SecretFilter([s.encode("utf-8", "surrogatepass") for s in self.literals])

    def _patterns(self, as_bytes: bool) -> list[re.Pattern[Any]]:
        compiled = self._compiled.get(as_bytes)
        if compiled is None:
            compiled = [re.compile(source.encode("utf-8") if as_bytes else source) for source in self._sources]
            self._compiled[as_bytes] = compiled
        return compiled

    def exempt_program_names(self, names: Iterable[str]) -> None:
        """Never redacts these exact strings (a code object's filename, a module's name or file)."""
        self.exempt.update(name for name in names if isinstance(name, str))

    def _replace(self, match: re.Match[Any], as_bytes: bool) -> Any:
        spans = None
        if match.re.pattern in (HIGH_ENTROPY_TOKEN, HIGH_ENTROPY_TOKEN.encode()):
            spans = _token_in_path(match)
        if spans is None:
            spans = [match.span("secret") if "secret" in match.re.groupindex else match.span()]
        whole, offset = match.group(0), match.start()
        # Right to left, so the offsets of the spans still to replace stay valid.
        for start, end in reversed(spans):
            self.count += 1
            mark = placeholder(match.string[start:end])
            replacement = mark.encode("ascii") if as_bytes else mark
            whole = whole[: start - offset] + replacement + whole[end - offset :]
        return whole

    def redact(self, value: str | bytes) -> str | bytes | None:
        as_bytes = isinstance(value, bytes)
        if self._prefilter is not None and not self._prefilter.may_hold_secret(value):
            return None
        if not as_bytes and value in self.exempt:
            return None
        before = self.count
        for pattern in self._patterns(as_bytes):
            value = pattern.sub(lambda m: self._replace(m, as_bytes), value)
        return value if self.count != before else None

    def redact_text(self, value: str) -> str:
        redacted = self.redact(value)
        return value if redacted is None else str(redacted)

    def redact_all(self, values: Iterable[str]) -> list[str]:
        return [self.redact_text(v) for v in values]


def program_names(frames: Iterable[Any] = ()) -> set[str]:
    """What names the running program's code and modules: module names and files, sys.path entries, and the
    filenames of the code on every thread's stack and of `frames` (the exception's traceback), with their callers.
    Read from dicts and C attributes only, so no module's `__getattr__` runs."""
    import sys

    names: set[str] = {entry for entry in sys.path if isinstance(entry, str)}
    for name, module in list(sys.modules.items()):
        names.add(name)
        namespace = getattr(module, "__dict__", None) if isinstance(module, type(sys)) else None
        if isinstance(namespace, dict):
            names.update(value for key in ("__file__", "__cached__") if isinstance(value := namespace.get(key), str))
    for frame in [*sys._current_frames().values(), *frames]:
        while frame is not None:
            names.add(frame.f_code.co_filename)
            frame = frame.f_back
    return names
