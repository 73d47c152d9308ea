"""JWTs for agents: issue a pair from a secret, rotate on refresh, revoke into the database.

Claims: `sub` (agent id), `scopes`, `exp`, `iat`, `jti`, `iss`, `aud`, `typ` (access|refresh),
`sid` (the session: the pair and every pair refreshed from it) and `kid` (the key id of the agent
secret that was exchanged). Rotating the agent's secret changes its key id, so every token minted
from the old secret stops working in every process without a revocation list entry. Revoking a
refresh token ends its whole session; presenting a refresh token twice does too (reuse detection).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import jwt
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.core.errors import ConfigurationError, Forbidden, Unauthorized
from ordinaut.core.ids import new_id
from ordinaut.core.models import Agent
from ordinaut.core.settings import Settings
from ordinaut.services.context import Actor, ServiceContext
from ordinaut.store import agents as agent_store
from ordinaut.store.tokens import revoked_token_any, revoked_token_insert, revoked_token_prune

ISSUER = "ordinaut"
AUDIENCE = "ordinaut-api"
ACCESS = "access"
REFRESH = "refresh"
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
_STRICT_ENVIRONMENTS = frozenset({"production", "staging"})
log = structlog.get_logger("ordinaut.api.tokens")


def check_jwt_settings(settings: Settings) -> None:
    """Refuse to start with a JWT secret anyone could guess, outside development and tests.

    Called by `create_app`. Also refuses asymmetric algorithms: we sign with one shared secret.
    """
    if settings.jwt_algorithm not in HMAC_ALGORITHMS:
        raise ConfigurationError(
            f"JWT_ALGORITHM={settings.jwt_algorithm!r} is not supported; "
            f"use one of {', '.join(sorted(HMAC_ALGORITHMS))}"
        )
    if settings.environment in _STRICT_ENVIRONMENTS and settings.uses_default_jwt_secret:
        raise ConfigurationError(
            f"JWT_SECRET_KEY is missing or left at its default while "
            f"ENVIRONMENT={settings.environment}; set a long random value "
            "(for example `openssl rand -hex 32`)"
        )
    if settings.environment in _STRICT_ENVIRONMENTS and len(settings.jwt_secret_key) < 32:
        log.warning("jwt.weak_secret", hint="JWT_SECRET_KEY should be at least 32 characters")


def signing_key(settings: Settings) -> bytes:
    """The HMAC key: SHA-512 of JWT_SECRET_KEY.

    Hashing gives every HS algorithm a full-length key whatever the operator typed (PyJWT warns
    on short keys); it adds no strength, which is why production still needs a long secret.
    """
    return hashlib.sha512(settings.jwt_secret_key.encode()).digest()


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    scopes: tuple[str, ...]

    def as_response(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "scope": " ".join(self.scopes),
        }


def encode_token(
    settings: Settings,
    *,
    agent_id: str,
    key_id: str,
    scopes: tuple[str, ...],
    kind: str,
    session_id: str,
    now: datetime,
    ttl_seconds: int,
) -> str:
    issued = int(now.timestamp())
    claims = {
        "sub": agent_id,
        "scopes": list(scopes),
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": new_id(),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "typ": kind,
        "sid": session_id,
        "kid": key_id,
    }
    return jwt.encode(claims, signing_key(settings), algorithm=settings.jwt_algorithm)


def decode_token(
    settings: Settings, token: str, *, expected_type: str | None, verify_exp: bool = True
) -> dict[str, Any]:
    """Verified claims of one of our tokens, or `Unauthorized` saying what is wrong with it."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            signing_key(settings),
            algorithms=[settings.jwt_algorithm],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={
                "require": ["exp", "iat", "sub", "jti", "kid"],
                "verify_exp": verify_exp,
            },
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token has expired") from None
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid token: {exc}") from None
    if claims.get("typ") not in (ACCESS, REFRESH) or (
        expected_type is not None and claims["typ"] != expected_type
    ):
        raise Unauthorized(f"expected an {expected_type or 'access or refresh'} token")
    return claims


def revocation_ids(claims: dict[str, Any]) -> list[str]:
    """The ids whose revocation kills this token: its own jti and its session."""
    return [str(claims["jti"])] + ([str(claims["sid"])] if claims.get("sid") else [])


async def token_agent(conn: AsyncConnection, claims: dict[str, Any]) -> Agent:
    """The active agent a verified token speaks for, if its secret has not been rotated since."""
    found = await agent_store.agent_credentials_by_key_id(conn, str(claims["kid"]))
    if found is None or found[0].id != str(claims["sub"]) or not found[0].active:
        raise Unauthorized("the token's agent is gone, inactive or has rotated its secret")
    return found[0]


async def live_token_agent(conn: AsyncConnection, claims: dict[str, Any]) -> Agent:
    """`token_agent` and the revocation check together, in one query: what an access token
    costs on every request (the revocation list is read each time, so every process honours a
    revocation at once)."""
    found = await agent_store.agent_credentials_for_token(
        conn, str(claims["kid"]), revocation_ids(claims)
    )
    if found is not None and found[1]:
        raise Unauthorized("token has been revoked")
    if found is None or found[0].id != str(claims["sub"]) or not found[0].active:
        raise Unauthorized("the token's agent is gone, inactive or has rotated its secret")
    return found[0]


def _mint(
    settings: Settings, agent: Agent, key_id: str, scopes: tuple[str, ...], sid: str, now: datetime
) -> TokenPair:
    mint = partial(
        encode_token, settings, agent_id=agent.id, key_id=key_id, scopes=scopes, session_id=sid
    )
    access = mint(kind=ACCESS, now=now, ttl_seconds=settings.jwt_access_ttl_seconds)
    refresh = mint(kind=REFRESH, now=now, ttl_seconds=settings.jwt_refresh_ttl_seconds)
    return TokenPair(access, refresh, settings.jwt_access_ttl_seconds, scopes)


def granted_scopes(agent: Agent, requested: str | None) -> tuple[str, ...]:
    """The agent's scopes, or the requested subset of them (a narrower token)."""
    if requested is None or not requested.split():
        return tuple(sorted(agent.scopes))
    wanted = tuple(sorted(set(requested.split())))
    missing = [s for s in wanted if s not in agent.scopes]
    if missing:
        raise Forbidden(f"agent does not hold the scope(s) {', '.join(missing)}")
    return wanted


async def issue_tokens(
    ctx: ServiceContext,
    agent: Agent,
    key_id: str,
    requested_scope: str | None,
    request_id: str | None,
) -> TokenPair:
    """A fresh session for an agent that has just proven its secret."""
    scopes = granted_scopes(agent, requested_scope)
    sid = new_id()
    async with ctx.unit_of_work(Actor(agent.id, request_id)) as uow:
        await uow.audit("auth.token", "agent", agent.id, {"scopes": list(scopes), "session": sid})
        return _mint(ctx.settings, agent, key_id, scopes, sid, uow.now)


async def refresh_tokens(
    ctx: ServiceContext, refresh_token: str, request_id: str | None
) -> TokenPair:
    """A new pair for a refresh token, which is spent; a spent one ends its session (401)."""
    claims = decode_token(ctx.settings, refresh_token, expected_type=REFRESH)
    sid = str(claims.get("sid") or claims["jti"])
    reused = False
    async with ctx.unit_of_work(Actor(str(claims["sub"]), request_id)) as uow:
        if await revoked_token_any(uow.conn, [sid]):
            raise Unauthorized("refresh token's session has been revoked")
        agent = await token_agent(uow.conn, claims)
        expires = _expiry(claims)
        spent = await revoked_token_insert(
            uow.conn, jti=str(claims["jti"]), agent_id=agent.id, expires_at=expires, now=uow.now
        )
        if not spent:  # spent before (or revoked): a replay, so treat as theft and end the session
            reused = True
            await _revoke_session(ctx, uow.conn, agent.id, sid, uow.now)
            await uow.audit("auth.refresh_reused", "agent", agent.id, {"session": sid})
        else:
            scopes = tuple(s for s in claims.get("scopes", ()) if s in agent.scopes)
            await uow.audit("auth.refresh", "agent", agent.id, {"session": sid})
            pair = _mint(ctx.settings, agent, str(claims["kid"]), scopes, sid, uow.now)
    if reused:
        raise Unauthorized("refresh token was already used; its session has been revoked")
    return pair


async def revoke_token(ctx: ServiceContext, token: str, request_id: str | None) -> dict[str, Any]:
    """Revoke a token we signed (an expired one is dead already); a refresh token ends its
    session, so the access tokens minted with it stop working too."""
    try:
        claims = decode_token(ctx.settings, token, expected_type=None)
    except Unauthorized as exc:
        if exc.message != "token has expired":
            raise
        return {"revoked": False, "detail": "token had already expired"}
    agent_id = str(claims["sub"])
    async with ctx.unit_of_work(Actor(agent_id, request_id)) as uow:
        await revoked_token_insert(
            uow.conn,
            jti=str(claims["jti"]),
            agent_id=agent_id,
            expires_at=_expiry(claims),
            now=uow.now,
        )
        session = claims["typ"] == REFRESH and bool(claims.get("sid"))
        if session:
            await _revoke_session(ctx, uow.conn, agent_id, str(claims["sid"]), uow.now)
        await revoked_token_prune(uow.conn, now=uow.now)
        await uow.audit(
            "auth.revoke", "agent", agent_id, {"token_type": claims["typ"], "session": session}
        )
    return {"revoked": True, "token_type": claims["typ"], "session_revoked": session}


async def _revoke_session(
    ctx: ServiceContext, conn: AsyncConnection, agent_id: str, sid: str, now: datetime
) -> None:
    # every token of the session was issued before now, so none outlives the longest TTL
    longest = max(ctx.settings.jwt_access_ttl_seconds, ctx.settings.jwt_refresh_ttl_seconds)
    await revoked_token_insert(
        conn, jti=sid, agent_id=agent_id, expires_at=now + timedelta(seconds=longest), now=now
    )


def _expiry(claims: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(claims["exp"]), UTC)
