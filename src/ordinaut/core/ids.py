"""Identifiers: UUID text for rows, short random tokens for secrets."""

from __future__ import annotations

import secrets
import uuid


def new_id() -> str:
    return str(uuid.uuid4())


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
