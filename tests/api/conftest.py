"""API fixtures: a real app on each backend, driven over ASGI with httpx, lifespan included."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from ordinaut.api.app import create_app
from ordinaut.core.clock import SystemClock
from ordinaut.core.settings import Settings
from ordinaut.services.agents import ALL_SCOPES, create_agent
from ordinaut.store.engine import Store


@dataclass(frozen=True)
class Caller:
    """An agent that can call the API: its id and ready-made headers."""

    id: str
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


MakeAgent = Callable[..., Awaitable[Caller]]


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(DATABASE_URL=db_url, RATE_LIMIT_PER_SECOND=0, ENVIRONMENT="test")


@pytest.fixture
async def app(settings: Settings, store: Store) -> AsyncIterator[FastAPI]:
    application = create_app(settings, store=store)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ordinaut.test") as c:
        yield c


@pytest.fixture
def make_agent(store: Store) -> MakeAgent:
    """`await make_agent("name", scopes=[...])` creates an agent straight in the store."""
    counter = iter(range(1_000_000))

    async def make(name: str | None = None, scopes: Sequence[str] = ALL_SCOPES) -> Caller:
        async with store.transaction() as conn:
            issued = await create_agent(
                conn, name=name or f"agent-{next(counter)}", scopes=scopes, clock=SystemClock()
            )
        return Caller(issued.agent.id, issued.secret)

    return make


@pytest.fixture
async def admin(make_agent: MakeAgent) -> Caller:
    return await make_agent("admin")


@pytest.fixture
async def alice(make_agent: MakeAgent) -> Caller:
    return await make_agent(
        "alice",
        ["tasks:read", "tasks:write", "runs:read", "tools:read", "events:publish", "events:read"],
    )


AnotherProcess = Callable[[Settings], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def another_process(store: Store) -> AnotherProcess:
    """`async with another_process(settings) as client:` another API app on the same database,
    sharing nothing in memory with the first (its own caches and extensions; relay off)."""

    @asynccontextmanager
    async def start(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
        other = create_app(settings, store=store, relay=False)
        async with LifespanManager(other):
            transport = httpx.ASGITransport(app=other)
            async with httpx.AsyncClient(transport=transport, base_url="http://other.test") as c:
                yield c

    return start
