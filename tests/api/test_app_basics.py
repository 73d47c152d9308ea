"""Cross-cutting behaviour of every route: problem+json, request ids, trailing slashes, limits."""

from __future__ import annotations

import httpx

from ordinaut.core.settings import Settings


async def test_liveness_needs_no_credential_and_echoes_request_id(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "abc-123"


async def test_trailing_slash_routes_without_redirect(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live/")
    assert response.status_code == 200


async def test_unknown_route_is_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["request_id"] == response.headers["x-request-id"]


async def test_oversized_body_is_413(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.post("/tasks", content=b"x" * (settings.max_body_bytes + 1))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
