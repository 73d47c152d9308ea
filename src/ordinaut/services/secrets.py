"""Agent secrets: `ord_<key_id>_<random>`, stored as an Argon2 hash.

The key id lets a bare secret find its agent with one indexed lookup; the slow hash is verified
once per process and then remembered by a SHA-256 digest for a short time, so a busy API does not
pay Argon2 on every request.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

PREFIX = "ord_"
_hasher = PasswordHasher()


def new_secret() -> tuple[str, str]:
    """A fresh (key_id, secret) pair."""
    key_id = secrets.token_hex(8)
    return key_id, f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def key_id_of(secret: str) -> str | None:
    """The key id embedded in a secret, or None if it is not shaped like one of ours."""
    if not secret.startswith(PREFIX):
        return None
    key_id, sep, rest = secret[len(PREFIX) :].partition("_")
    return key_id if sep and rest and len(key_id) == 16 else None


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def verify_secret(secret_hash: str, secret: str) -> bool:
    try:
        return _hasher.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


@dataclass
class VerifiedSecretCache:
    """Remembers secrets verified recently (digest -> agent id), for `ttl_seconds`."""

    ttl_seconds: float = 60.0
    _entries: dict[str, tuple[str, float]] = field(default_factory=dict)

    @staticmethod
    def _digest(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    def get(self, secret: str) -> str | None:
        entry = self._entries.get(self._digest(secret))
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, secret: str, agent_id: str) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[self._digest(secret)] = (agent_id, time.monotonic() + self.ttl_seconds)

    def forget_agent(self, agent_id: str) -> None:
        self._entries = {k: v for k, v in self._entries.items() if v[0] != agent_id}
