"""Authentication (agent secrets, JWT) and authorisation (scopes) as FastAPI dependencies.

`agent: Agent = Depends(require("tasks:read"))` on every route but liveness. The route table
itself says which scope each route needs, so the auth matrix test can be generated from it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.api.tokens import (
    ACCESS,
    AUDIENCE,
    ISSUER,
    decode_token,
    live_token_agent,
)
from ordinaut.core.errors import Forbidden, OrdinautError, StoreUnavailable, Unauthorized
from ordinaut.core.models import Agent
from ordinaut.core.settings import Settings
from ordinaut.services.secrets import VerifiedSecretCache, key_id_of, verify_secret
from ordinaut.store import agents as agent_store
from ordinaut.store.engine import Store

__all__ = ["AUDIENCE", "ISSUER", "Authenticator", "RateLimited", "bearer", "require"]
T = TypeVar("T")


class RateLimited(OrdinautError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(
            f"rate limit exceeded; retry in {retry_after:.1f}s",
            "rate_limited",
            429,
            "Too many requests",
        )
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}


@dataclass
class TokenBucket:
    rate: float
    burst: int
    tokens: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    def take(self) -> float:
        """0 when a request may pass, else the seconds until one may."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class Authenticator:
    """Resolves a bearer credential to an active agent. One per app (no globals)."""

    settings: Settings
    store: Store
    secrets: VerifiedSecretCache = field(default_factory=VerifiedSecretCache)
    # wrong secrets for a real key id, remembered so a client retrying a stale secret (or
    # someone guessing) costs one Argon2 run per minute, not one per request
    refused: VerifiedSecretCache = field(default_factory=VerifiedSecretCache)
    buckets: dict[str, TokenBucket] = field(default_factory=dict)

    async def agent_for(self, credential: str) -> tuple[Agent, frozenset[str]]:
        """The agent and the scopes this credential grants it."""
        if key_id_of(credential) is not None:
            owner = await self.agent_for_secret(credential)
            return owner, frozenset(owner.scopes)
        claims = self.decode(credential, expected_type=ACCESS)
        agent = await self._read(lambda conn: live_token_agent(conn, claims))
        return agent, frozenset(claims.get("scopes", ())) & frozenset(agent.scopes)

    async def agent_for_secret(self, secret: str) -> Agent:
        """The active agent owning `secret`. The key id lookup runs every time, so a rotated or
        deleted secret fails at once in every process; Argon2 runs only on a cache miss."""
        key_id = key_id_of(secret) or ""
        found = await self._read(lambda conn: agent_store.agent_credentials_by_key_id(conn, key_id))
        if found is None or not found[0].active:
            raise Unauthorized("invalid agent secret")
        agent, secret_hash = found
        if self.secrets.get(secret) != agent.id:
            if self.refused.get(secret) == agent.id or not await asyncio.to_thread(
                verify_secret, secret_hash, secret
            ):
                self.refused.put(secret, agent.id)
                raise Unauthorized("invalid agent secret")
            self.secrets.put(secret, agent.id)
        return agent

    def forget(self, agent_id: str) -> None:
        """Drop what this process remembers about an agent's secrets (after rotation, delete)."""
        self.secrets.forget_agent(agent_id)
        self.refused.forget_agent(agent_id)

    async def _read(self, query: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run a credential query: one round trip in autocommit. A pooled connection that died
        (a database restart) is retried once on a fresh one, so this first query of a request
        stands in for a pre-ping; an unreachable database is a 503, not a 500, for every route."""
        try:
            try:
                return await self._query(query)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                return await self._query(query)  # the pool has dropped the dead connections
        except (OperationalError, InterfaceError, OSError) as exc:
            raise StoreUnavailable("database unreachable; credentials cannot be checked") from exc

    async def _query(self, query: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with self.store.read() as conn:
            return await query(conn)

    def decode(self, token: str, *, expected_type: str) -> dict[str, Any]:
        return decode_token(self.settings, token, expected_type=expected_type)

    def throttle(self, agent_id: str) -> None:
        rate = self.settings.rate_limit_per_second
        if rate <= 0:
            return
        bucket = self.buckets.get(agent_id)
        if bucket is None:
            bucket = self.buckets[agent_id] = TokenBucket(
                rate, self.settings.rate_limit_burst, float(self.settings.rate_limit_burst)
            )
        wait = bucket.take()
        if wait > 0:
            raise RateLimited(wait)


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if not header:
        raise Unauthorized("missing Authorization header; send `Bearer <agent secret or token>`")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthorized("malformed Authorization header; expected `Bearer <credential>`")
    return credential.strip()


def require(scope: str | None) -> Callable[[Request], Awaitable[Agent]]:
    """A dependency: the calling agent, which must hold `scope` (admin holds every scope).

    `require(None)` asks only for a valid credential (for example the detailed health report).
    """

    async def dependency(request: Request) -> Agent:
        authenticator: Authenticator = request.app.state.authenticator
        agent, granted = await authenticator.agent_for(bearer(request))
        authenticator.throttle(agent.id)
        if scope is not None and scope not in granted and "admin" not in granted:
            raise Forbidden(f"this route needs the {scope!r} scope")
        effective = replace(agent, scopes=tuple(sorted(granted)))
        request.state.agent = effective
        return effective

    dependency.required_scope = scope  # type: ignore[attr-defined]
    return dependency


def utc_timestamp(instant: datetime) -> int:
    return int(instant.astimezone(UTC).timestamp())


async def require_extension_scope(request: Request) -> Agent | None:
    """Extension routes: the scope `ext:<id>:routes` (admin implied), checked before loading;
    none for the GET of a path the extension's manifest lists as public (a page, a script)."""
    ext_id = request.path_params.get("ext_id", "")
    path = request.path_params.get("path", "")
    if request.app.state.extensions.is_public(ext_id, request.method, path):
        return None
    return await require(f"ext:{ext_id}:routes")(request)


# the auth matrix reads this: the scope, with the path parameter it is built from
require_extension_scope.required_scope = "ext:{ext_id}:routes"  # type: ignore[attr-defined]
