"""Extension routes through a real FastAPI app: auth first, lazy load on first request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ordinaut.core.errors import OrdinautError, Unauthorized
from ordinaut.core.settings import Settings
from ordinaut.events import InMemoryBus
from ordinaut.plugins import Backoff, ExtensionManager

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "extensions"
TOKEN = {"Authorization": "Bearer letmein"}


def require_token(request: Request) -> None:
    """Stands in for the API's auth: a bearer token plus the `ext:<id>:routes` idea."""
    if request.headers.get("authorization") != "Bearer letmein":
        raise Unauthorized()
    request.state.ext_id = request.path_params["ext_id"]


@pytest.fixture
async def manager() -> AsyncIterator[ExtensionManager]:
    settings = Settings(ORDINAUT_EXT_PATHS=[FIXTURES])
    made = ExtensionManager(settings, InMemoryBus(), builtin_root=None, backoff=Backoff(0.01, 0.05))
    made.discover()
    await made.start()
    yield made
    await made.shutdown()


@pytest.fixture
async def client(manager: ExtensionManager) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()

    @app.exception_handler(OrdinautError)
    async def problem(request: Request, exc: OrdinautError) -> JSONResponse:
        return JSONResponse({"code": exc.code, "detail": exc.message}, status_code=exc.status)

    manager.mount(app, require_token)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=TOKEN) as c:
        yield c


def status_of(manager: ExtensionManager, ext_id: str) -> dict[str, Any]:
    return next(e for e in manager.describe() if e["id"] == ext_id)


async def test_lazy_extension_loads_on_its_first_request_and_answers_it(
    client: httpx.AsyncClient, manager: ExtensionManager
) -> None:
    assert status_of(manager, "lazy")["status"] == "discovered"

    responses = await asyncio.gather(*(client.get("/ext/lazy/items") for _ in range(3)))

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert responses[0].json() == ["apple", "pear"]
    assert status_of(manager, "lazy")["status"] == "loaded"
    index = await client.get("/ext/lazy")
    assert index.json() == {"setups": 1, "started": 1}, "one setup, startup hooks ran"


@pytest.mark.parametrize("path", ["/ext/lazy", "/ext/lazy/", "/ext/lazy/items", "/ext/lazy/items/"])
async def test_paths_with_and_without_trailing_slash_answer_without_redirect(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 200
    assert not response.history


async def test_request_body_and_method_reach_the_extension(client: httpx.AsyncClient) -> None:
    response = await client.post("/ext/lazy/items", json={"item": "fig"})

    assert response.json() == ["apple", "pear", "fig"]
    assert (await client.delete("/ext/lazy/items")).status_code == 405


async def test_auth_runs_before_anything_loads(
    client: httpx.AsyncClient, manager: ExtensionManager
) -> None:
    response = await client.get("/ext/lazy/items", headers={"Authorization": "Bearer wrong"})

    assert response.status_code == 401
    assert status_of(manager, "lazy")["status"] == "discovered"
    assert (await client.get("/ext/nope", headers={"Authorization": ""})).status_code == 401


async def test_unknown_disabled_and_broken_extensions(client: httpx.AsyncClient) -> None:
    assert (await client.get("/ext/nope/x")).json()["code"] == "not_found"
    assert (await client.get("/ext/disabled/")).status_code == 404
    broken = await client.get("/ext/broken-import/")
    assert broken.status_code == 503
    assert "(import): ModuleNotFoundError" in broken.json()["detail"]
    assert (await client.get("/ext/lazy/missing")).status_code == 404
    assert (await client.get("/ext/everything/")).status_code == 200, "others keep serving"


async def test_static_files_and_traversal(client: httpx.AsyncClient) -> None:
    served = await client.get("/ext/everything/static/hello.txt")
    assert served.status_code == 200
    assert served.text == "hello from a static file\n"

    for escape in ("%2E%2E/extension.json", "..%2Fextension.json"):
        refused = await client.get(f"/ext/everything/static/{escape}")
        assert refused.status_code == 404
        assert refused.json()["detail"] == "no static file '../extension.json'"
    assert (await client.get("/ext/everything/static/nothing.txt")).status_code == 404


async def test_routes_publish_events_heard_by_a_background_subscriber(
    client: httpx.AsyncClient,
) -> None:
    published = await client.post("/ext/everything/publish", json={"text": "from http"})
    assert published.status_code == 200

    for _ in range(100):  # bounded: the subscriber job runs on its own
        heard = (await client.get("/ext/everything/heard")).json()["heard"]
        if heard:
            break
        await asyncio.sleep(0.01)
    assert heard == [{"text": "from http"}]


async def test_requests_and_latency_are_counted(
    client: httpx.AsyncClient, manager: ExtensionManager
) -> None:
    for _ in range(3):
        await client.get("/ext/everything/")

    entry = status_of(manager, "everything")
    assert entry["requests"] == 3
    assert entry["avg_latency_ms"] > 0
