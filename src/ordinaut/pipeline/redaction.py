"""Hiding secrets in what a run records: values under keys that name a credential."""

from __future__ import annotations

import itertools
import re
from functools import lru_cache
from typing import Any

REDACTED = "***"
_SECRET_WORDS = {
    "authorization",
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "cookie",
    "credential",
    "credentials",
    "privatekey",
    "sessionid",
}
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


@lru_cache(maxsize=2048)
def is_secret_key(key: str) -> bool:
    """`Authorization`, `X-Api-Key`, `access_token`, `clientSecret` are; `max_tokens` is not."""
    words = [word.lower() for word in _WORD.findall(key)]
    joined = {first + second for first, second in itertools.pairwise(words)}
    return any(word in _SECRET_WORDS for word in words) or bool(joined & _SECRET_WORDS)


def redact(value: Any) -> Any:
    """A copy of `value` with the value of every secret-named key replaced by `***`."""
    if isinstance(value, dict):
        return {
            key: REDACTED if isinstance(key, str) and is_secret_key(key) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value
