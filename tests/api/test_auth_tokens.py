"""The JWT flow: token, refresh (rotation, reuse detection), revoke, and what ends a token."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager

from ordinaut.api.app import create_app
from ordinaut.api.tokens import AUDIENCE, ISSUER, signing_key
from ordinaut.core.errors import ConfigurationError
from ordinaut.core.settings import Settings
from ordinaut.store.engine import Store


async def tokens_for(client: httpx.AsyncClient, caller: Any, scope: str | None = None) -> Any:
    body = {"agent_id": caller.id, "agent_secret": caller.secret}
    if scope is not None:
        body["scope"] = scope
    response = await client.post("/agents/auth/token", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_token_pair_carries_the_documented_claims(
    client: httpx.AsyncClient, settings: Settings, alice: Any
) -> None:
    pair = await tokens_for(client, alice)
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == settings.jwt_access_ttl_seconds
    claims = jwt.decode(
        pair["access_token"],
        signing_key(settings),
        algorithms=["HS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
    )
    assert claims["sub"] == alice.id
    assert claims["typ"] == "access"
    assert sorted(claims["scopes"]) == sorted(pair["scope"].split())
    assert "tasks:write" in claims["scopes"]
    assert claims["exp"] - claims["iat"] == settings.jwt_access_ttl_seconds
    assert {"jti", "sid", "kid"} <= claims.keys()
    assert (await client.get("/tasks", headers=bearer(pair["access_token"]))).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"agent_secret": "ord_0123456789abcdef_nope"}, id="wrong_secret"),
        pytest.param({"agent_secret": "not-a-secret"}, id="malformed_secret"),
        pytest.param({"agent_id": "00000000-0000-0000-0000-000000000000"}, id="other_agent_id"),
    ],
)
async def test_token_refuses_a_wrong_secret_or_agent(
    client: httpx.AsyncClient, alice: Any, change: dict[str, str]
) -> None:
    body = {"agent_id": alice.id, "agent_secret": alice.secret, **change}
    response = await client.post("/agents/auth/token", json=body)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "invalid agent_id or agent_secret"


async def test_token_request_is_validated(client: httpx.AsyncClient) -> None:
    response = await client.post("/agents/auth/token", json={"agent_id": "x"})
    assert response.status_code == 422
    assert ["body", "agent_secret"] in [e["loc"] for e in response.json()["errors"]]


async def test_a_token_can_be_narrowed_to_some_scopes(
    client: httpx.AsyncClient, alice: Any
) -> None:
    pair = await tokens_for(client, alice, scope="tasks:read")
    assert pair["scope"] == "tasks:read"
    assert (await client.get("/tasks", headers=bearer(pair["access_token"]))).status_code == 200
    denied = await client.post("/tasks", json={}, headers=bearer(pair["access_token"]))
    assert denied.status_code == 403
    body = {"agent_id": alice.id, "agent_secret": alice.secret, "scope": "tasks:read admin"}
    assert (await client.post("/agents/auth/token", json=body)).status_code == 403


async def test_refresh_rotates_and_a_replayed_refresh_token_ends_the_session(
    client: httpx.AsyncClient, alice: Any
) -> None:
    first = await tokens_for(client, alice)
    second = (
        await client.post("/agents/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    assert second["access_token"] != first["access_token"]
    assert (await client.get("/tasks", headers=bearer(second["access_token"]))).status_code == 200

    replay = await client.post(
        "/agents/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert replay.status_code == 401
    # the replay ended the whole session: the pair minted from the spent token is dead too
    assert (await client.get("/tasks", headers=bearer(second["access_token"]))).status_code == 401
    again = await client.post(
        "/agents/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert again.status_code == 401


async def test_refresh_refuses_an_access_token(client: httpx.AsyncClient, alice: Any) -> None:
    pair = await tokens_for(client, alice)
    response = await client.post(
        "/agents/auth/refresh", json={"refresh_token": pair["access_token"]}
    )
    assert response.status_code == 401


async def test_revoking_an_access_token_leaves_its_refresh_token(
    client: httpx.AsyncClient, alice: Any
) -> None:
    pair = await tokens_for(client, alice)
    revoked = await client.post("/agents/auth/revoke", json={"token": pair["access_token"]})
    assert revoked.json() == {
        "revoked": True,
        "token_type": "access",
        "session_revoked": False,
        "detail": None,
    }
    assert (await client.get("/tasks", headers=bearer(pair["access_token"]))).status_code == 401
    fresh = await client.post("/agents/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert fresh.status_code == 200


async def test_revoking_a_refresh_token_ends_its_access_tokens(
    client: httpx.AsyncClient, alice: Any
) -> None:
    pair = await tokens_for(client, alice)
    other = await tokens_for(client, alice)  # another session, untouched
    revoked = await client.post("/agents/auth/revoke", json={"token": pair["refresh_token"]})
    assert revoked.json()["session_revoked"] is True
    assert (await client.get("/tasks", headers=bearer(pair["access_token"]))).status_code == 401
    refresh = await client.post(
        "/agents/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refresh.status_code == 401
    assert (await client.get("/tasks", headers=bearer(other["access_token"]))).status_code == 200


async def test_revoke_refuses_tokens_it_did_not_sign(client: httpx.AsyncClient) -> None:
    forged = jwt.encode({"sub": "x"}, "k" * 64, algorithm="HS256")
    for token in ("garbage", forged):
        assert (await client.post("/agents/auth/revoke", json={"token": token})).status_code == 401


async def test_revocation_is_honoured_by_another_api_process(
    client: httpx.AsyncClient, settings: Settings, another_process: Any, alice: Any
) -> None:
    pair = await tokens_for(client, alice)
    async with another_process(settings) as other:
        assert (await other.get("/tasks", headers=bearer(pair["access_token"]))).status_code == 200
        await client.post("/agents/auth/revoke", json={"token": pair["access_token"]})
        assert (await other.get("/tasks", headers=bearer(pair["access_token"]))).status_code == 401


async def test_rotating_a_secret_ends_the_old_secret_and_its_tokens_everywhere(
    client: httpx.AsyncClient, settings: Settings, another_process: Any, admin: Any, alice: Any
) -> None:
    pair = await tokens_for(client, alice)
    async with another_process(settings) as other:
        assert (await other.get("/tasks", headers=alice.headers)).status_code == 200  # cached
        rotated = await client.post(f"/agents/{alice.id}/credentials", headers=admin.headers)
        assert rotated.status_code == 200
        new_secret = rotated.json()["agent_secret"]
        for api in (client, other):
            assert (await api.get("/tasks", headers=alice.headers)).status_code == 401
            assert (
                await api.get("/tasks", headers=bearer(pair["access_token"]))
            ).status_code == 401
            assert (await api.get("/tasks", headers=bearer(new_secret))).status_code == 200


async def test_scope_changes_reach_live_tokens(
    client: httpx.AsyncClient, admin: Any, alice: Any
) -> None:
    pair = await tokens_for(client, alice)
    changed = await client.put(
        f"/agents/{alice.id}", json={"scopes": ["runs:read"]}, headers=admin.headers
    )
    assert changed.status_code == 200
    assert (await client.get("/tasks", headers=bearer(pair["access_token"]))).status_code == 403
    assert (await client.get("/tasks", headers=alice.headers)).status_code == 403


async def test_a_deactivated_agent_is_refused(
    client: httpx.AsyncClient, admin: Any, alice: Any
) -> None:
    pair = await tokens_for(client, alice)
    await client.put(f"/agents/{alice.id}", json={"active": False}, headers=admin.headers)
    assert (await client.get("/tasks", headers=alice.headers)).status_code == 401
    assert (await client.get("/tasks", headers=bearer(pair["access_token"]))).status_code == 401
    body = {"agent_id": alice.id, "agent_secret": alice.secret}
    assert (await client.post("/agents/auth/token", json=body)).status_code == 401


async def test_auth_audit_rows_hold_no_secrets(
    client: httpx.AsyncClient, admin: Any, alice: Any
) -> None:
    pair = await tokens_for(client, alice)
    await client.post("/agents/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    rows = (await client.get("/audit", params={"actor": alice.id}, headers=admin.headers)).json()
    assert {r["action"] for r in rows["items"]} == {"auth.token", "auth.refresh"}
    text = str(rows)
    assert alice.secret not in text
    assert pair["refresh_token"] not in text
    assert "ord_" not in text


@pytest.mark.parametrize(
    ("environment", "secret", "algorithm", "refused"),
    [
        pytest.param("production", None, "HS256", True, id="production_default"),
        pytest.param("production", "", "HS256", True, id="production_empty"),
        pytest.param("staging", None, "HS256", True, id="staging_default"),
        pytest.param("production", "s" * 40, "HS256", False, id="production_set"),
        pytest.param("development", None, "HS256", False, id="development_default"),
        pytest.param("development", None, "RS256", True, id="asymmetric_algorithm"),
    ],
)
def test_jwt_settings_are_checked_at_startup(
    environment: str, secret: str | None, algorithm: str, refused: bool
) -> None:
    values: dict[str, Any] = {"ENVIRONMENT": environment, "JWT_ALGORITHM": algorithm}
    if secret is not None:
        values["JWT_SECRET_KEY"] = secret
    settings = Settings(DATABASE_URL="sqlite:///unused.db", **values)
    if refused:
        with pytest.raises(ConfigurationError, match="JWT_"):
            create_app(settings, relay=False)
    else:
        create_app(settings, relay=False)


async def test_rate_limit_answers_429_with_retry_after(
    db_url: str, store: Store, alice: Any
) -> None:
    settings = Settings(DATABASE_URL=db_url, RATE_LIMIT_PER_SECOND=0.2, RATE_LIMIT_BURST=2)
    limited = create_app(settings, store=store, relay=False)
    async with LifespanManager(limited):
        transport = httpx.ASGITransport(app=limited)
        async with httpx.AsyncClient(transport=transport, base_url="http://limited.test") as c:
            statuses = [
                (await c.get("/tasks", headers=alice.headers)).status_code for _ in range(3)
            ]
            refused = await c.get("/tasks", headers=alice.headers)
    assert statuses[:2] == [200, 200]
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["content-type"] == "application/problem+json"
