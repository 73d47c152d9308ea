"""The auth matrix, generated from the app's own route table: a new route is covered unedited.

Every route declares its scope through `require(scope)`; each is called with every kind of bad
credential (401), with a token lacking its scope (403), with exactly its scope (neither), and,
for routes with an id in the path, as an agent that does not own the resource (404).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute

from ordinaut.api.tokens import ACCESS, REFRESH, encode_token
from ordinaut.core.clock import SystemClock
from ordinaut.core.ids import new_id
from ordinaut.core.settings import Settings
from ordinaut.services.agents import ALL_SCOPES
from ordinaut.services.secrets import key_id_of

# Routes that take no bearer credential, and why: probes, and the JWT flow whose body proves
# the caller. Anything else without `require(...)` fails `test_every_route_declares_its_scope`.
PUBLIC = frozenset(
    {
        ("GET", "/health/live"),
        ("GET", "/health/ready"),
        ("POST", "/agents/auth/token"),
        ("POST", "/agents/auth/refresh"),
        ("POST", "/agents/auth/revoke"),
    }
)
NON_ADMIN = [s for s in ALL_SCOPES if s != "admin"]
_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    scope: str | None
    streams: bool = False

    @property
    def params(self) -> list[str]:
        return [m.group(1) for m in _PARAM.finditer(self.path)]

    def url(self, fill: Mapping[str, str]) -> str:
        return _PARAM.sub(lambda m: fill[m.group(1)], self.path)

    def scope_for(self, fill: Mapping[str, str]) -> str | None:
        """The scope for these path values (extension routes build it from `{ext_id}`)."""
        return self.scope.format(**fill) if self.scope else None

    def filled(self, given: Mapping[str, str]) -> dict[str, str]:
        """Path values: the given ones, a fresh random UUID for the rest."""
        return {p: given.get(p) or str(uuid.uuid4()) for p in self.params}

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _scope_dependency(dependant: Dependant) -> Iterator[str | None]:
    for dep in dependant.dependencies:
        if hasattr(dep.call, "required_scope"):
            yield dep.call.required_scope
        yield from _scope_dependency(dep)


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """Every API route with its effective path and dependencies, included routers flattened
    (FastAPI >= 0.16x keeps included routers as nodes; older versions copy their routes)."""
    iterate = getattr(fastapi_routing, "iter_route_contexts", None)
    if iterate is None:
        yield from (r for r in app.routes if isinstance(r, APIRoute))
        return
    for context in iterate(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def routes(app: FastAPI) -> Iterator[tuple[Endpoint, bool]]:
    """(endpoint, protected) for every method of every API route."""
    for route in _api_routes(app):
        scopes = list(_scope_dependency(route.dependant))
        response_class = getattr(route.response_class, "value", route.response_class)
        streams = isinstance(response_class, type) and issubclass(response_class, StreamingResponse)
        for method in sorted(set(route.methods) - {"HEAD"}):
            scope = scopes[0] if scopes else None
            yield Endpoint(method, route.path, scope, streams), bool(scopes)


def protected(app: FastAPI, *, answering: bool = False) -> list[Endpoint]:
    """Routes that need a credential. `answering`: only those that end their response once
    allowed (an endless stream cannot be collected by the in-process transport)."""
    return [e for e, guarded in routes(app) if guarded and not (answering and e.streams)]


async def call(
    client: httpx.AsyncClient, endpoint: Endpoint, headers: dict[str, str], fill: Mapping[str, str]
) -> httpx.Response:
    body = {} if endpoint.method in ("POST", "PUT", "PATCH") else None
    async with asyncio.timeout(10):
        return await client.request(endpoint.method, endpoint.url(fill), headers=headers, json=body)


def held_by_alice(scope: str | None) -> bool:
    return scope is None or scope in NON_ADMIN


def _body_only_422(response: httpx.Response) -> bool:
    """A 422 about the (deliberately empty) body, not about the resource in the path."""
    errors = response.json().get("errors") or [{"loc": ["?"]}]
    return response.status_code == 422 and all(e["loc"][0] == "body" for e in errors)


async def sweep(
    client: httpx.AsyncClient,
    endpoints: list[Endpoint],
    headers_for: Any,
    check: Any,
    fill: Mapping[str, str] | None = None,
) -> None:
    """Call each endpoint; collect every answer `check` rejects, then fail once listing all."""
    wrong = []
    for endpoint in endpoints:
        values = endpoint.filled(fill or {})
        response = await call(client, endpoint, headers_for(endpoint, values), values)
        if response.status_code >= 500 or not check(endpoint, response):
            wrong.append(f"{endpoint}: {response.status_code} {response.text[:200]}")
    assert not wrong, "\n".join(wrong)


def jwt_for(
    settings: Settings,
    agent_id: str,
    secret: str,
    scopes: list[str],
    *,
    kind: str = ACCESS,
    age: timedelta = timedelta(0),
) -> str:
    return encode_token(
        settings,
        agent_id=agent_id,
        key_id=key_id_of(secret) or "",
        scopes=tuple(scopes),
        kind=kind,
        session_id=new_id(),
        now=SystemClock().now() - age,
        ttl_seconds=600,
    )


def test_every_route_declares_its_scope_or_is_public(app: FastAPI) -> None:
    undeclared = [
        str(e) for e, guarded in routes(app) if not guarded and (e.method, e.path) not in PUBLIC
    ]
    assert not undeclared, f"routes without require(scope) and not in PUBLIC: {undeclared}"
    assert len(protected(app)) >= 8, "the route table looks empty: is the matrix seeing it?"


async def test_public_routes_exist(app: FastAPI) -> None:
    assert {(e.method, e.path) for e, _ in routes(app)} >= PUBLIC


def bad_credentials(settings: Settings, agent_id: str, secret: str) -> dict[str, str]:
    """Each kind of credential that must be refused with 401, even for an agent holding all."""
    forged = Settings(JWT_SECRET_KEY="x" * 48, ENVIRONMENT="test")
    return {
        "malformed_scheme": f"Basic {secret}",
        "malformed_empty_bearer": "Bearer ",
        "malformed_garbage": "Bearer not.a.jwt",
        "unknown_secret": "Bearer ord_0123456789abcdef_" + "A" * 43,
        "wrong_secret_known_key": f"Bearer {secret[:-4]}AAAA",
        "bad_signature": f"Bearer {jwt_for(forged, agent_id, secret, list(ALL_SCOPES))}",
        "expired": "Bearer "
        + jwt_for(settings, agent_id, secret, list(ALL_SCOPES), age=timedelta(hours=1)),
        "refresh_as_access": "Bearer "
        + jwt_for(settings, agent_id, secret, list(ALL_SCOPES), kind=REFRESH),
    }


async def test_no_credential_is_401_everywhere(app: FastAPI, client: httpx.AsyncClient) -> None:
    await sweep(client, protected(app), lambda *_: {}, lambda _, r: r.status_code == 401)


async def test_bad_credentials_are_401_everywhere(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, admin: Any
) -> None:
    for name, header in bad_credentials(settings, admin.id, admin.secret).items():

        def refused(_: Endpoint, r: httpx.Response) -> bool:
            return r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"

        try:
            await sweep(client, protected(app), lambda *_, h=header: {"Authorization": h}, refused)
        except AssertionError as exc:
            raise AssertionError(f"credential {name!r}:\n{exc}") from None


async def test_revoked_token_is_401_everywhere(
    app: FastAPI, client: httpx.AsyncClient, admin: Any
) -> None:
    issued = await client.post(
        "/agents/auth/token", json={"agent_id": admin.id, "agent_secret": admin.secret}
    )
    access = issued.json()["access_token"]
    assert (await client.get("/agents", headers={"Authorization": f"Bearer {access}"})).is_success
    assert (await client.post("/agents/auth/revoke", json={"token": access})).status_code == 200
    await sweep(
        client,
        protected(app),
        lambda *_: {"Authorization": f"Bearer {access}"},
        lambda _, r: r.status_code == 401,
    )


async def test_missing_scope_is_403_and_the_scope_itself_passes(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, admin: Any
) -> None:
    scoped = [e for e in protected(app) if e.scope is not None]

    def token(scopes: list[str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {jwt_for(settings, admin.id, admin.secret, scopes)}"}

    def exactly(endpoint: Endpoint, values: Mapping[str, str]) -> dict[str, str]:
        scope = endpoint.scope_for(values)
        if scope is None:
            return token([])
        # a scope the agent cannot hold (an extension's) is reached through admin
        return token([scope] if scope in ALL_SCOPES else ["admin"])

    await sweep(
        client,
        scoped,
        lambda e, v: token([s for s in ALL_SCOPES if s not in (e.scope_for(v), "admin")]),
        lambda _, r: r.status_code == 403,
    )
    allowed = protected(app, answering=True)
    await sweep(client, allowed, exactly, lambda _, r: r.status_code not in (401, 403))


@pytest.fixture
async def bobs_task(client: httpx.AsyncClient, make_agent: Any) -> str:
    bob = await make_agent("bob", NON_ADMIN)
    body = {
        "title": "bob's task",
        "schedule_kind": "cron",
        "schedule_expr": "0 0 1 1 *",
        "timezone": "UTC",
        "payload": {"pipeline": [{"id": "s", "uses": "echo.message", "with": {"message": 1}}]},
    }
    response = await client.post("/tasks", json=body, headers=bob.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_another_agents_resource_is_404(
    app: FastAPI, client: httpx.AsyncClient, alice: Any, bobs_task: str
) -> None:
    """Alice holds every scope but admin: bob's task, and ids that exist nowhere, are 404 to
    her (admin-only routes are 403). A 422 about the empty body is accepted: the body is
    checked before the handler runs, so it says nothing about the resource."""
    with_ids = [e for e in protected(app, answering=True) if e.params]

    def hidden(endpoint: Endpoint, response: httpx.Response) -> bool:
        if not held_by_alice(endpoint.scope):
            return response.status_code == 403
        return response.status_code == 404 or _body_only_422(response)

    for fill in ({"task_id": bobs_task, "id": bobs_task}, {}):
        await sweep(client, with_ids, lambda *_: alice.headers, hidden, fill)
