"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL: one migrated database per test session, emptied after each test (TRUNCATE), so tests
may commit for real and use several connections or processes. SQLite: a copy of a migrated file
per test. With ORDINAUT_REQUIRE_SERVICES=1 (CI), a missing PostgreSQL or Redis fails the run
instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from argon2 import PasswordHasher

from ordinaut.services import secrets
from ordinaut.store.engine import Store
from ordinaut.store.migrate import upgrade
from ordinaut.store.schema import metadata

REQUIRE_SERVICES = os.environ.get("ORDINAUT_REQUIRE_SERVICES") == "1"
PG_ADMIN_URL = os.environ.get("ORDINAUT_TEST_PG_URL", "postgresql://postgres@localhost/postgres")
REDIS_URL = os.environ.get("ORDINAUT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = ["sqlite", "postgres"]


def _unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not available: {error}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (ORDINAUT_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


def _pg_url(dbname: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{dbname}"


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real Argon2 at its lowest cost: agents are made in milliseconds, not a second each.

    Verification reads the parameters from the stored hash, so nothing else changes.
    """
    monkeypatch.setattr(secrets, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A migrated PostgreSQL database for this test session; dropped at the end."""
    name = f"ordinaut_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        _unavailable("PostgreSQL", exc)
    url = _pg_url(name)
    upgrade(url)
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def truncate_all(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """The session's PostgreSQL database for one test, emptied afterwards."""
    yield pg_database
    truncate_all(pg_database)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database URL on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "ordinaut.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("pg_database")
    yield url
    truncate_all(url)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    store = Store(db_url)
    yield store
    await store.dispose()


@pytest.fixture
def redis_url() -> str:
    """Real Redis; keys a test makes should carry a unique prefix and be removed by the test."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        _unavailable("Redis", exc)
    finally:
        client.close()
    return REDIS_URL


async def _wait_for(
    predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


@pytest.fixture
def wait_for() -> Callable[..., Awaitable[None]]:
    """`await wait_for(predicate, timeout)`: poll a sync or async predicate, bounded."""
    return _wait_for
