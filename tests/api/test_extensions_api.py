"""Extensions through the whole app: the fixtures under tests/fixtures/extensions, discovered
from ORDINAUT_EXT_PATHS, listed by GET /extensions, served at /ext/<id>/ behind the API's auth
(scope `ext:<id>:routes`), isolated when broken, and their tools usable in pipelines."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ordinaut.core.settings import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "extensions"
WaitFor = Callable[..., Awaitable[None]]
Caller = Any
MakeAgent = Callable[..., Awaitable[Any]]
GREET = {
    "pipeline": [
        {"id": "hi", "uses": "ext.everything.greet", "with": {"name": "${params.who}"}},
    ],
    "params": {"who": "Ada"},
}


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        DATABASE_URL=db_url,
        RATE_LIMIT_PER_SECOND=0,
        ENVIRONMENT="test",
        ORDINAUT_EXT_PATHS=str(FIXTURES),
    )


async def _listed(client: httpx.AsyncClient, caller: Caller) -> dict[str, dict[str, Any]]:
    response = await client.get("/extensions", headers=caller.headers)
    assert response.status_code == 200, response.text
    return {entry["id"]: entry for entry in response.json()}


async def test_every_fixture_is_listed_with_its_status(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    listed = await _listed(client, alice)
    everything = listed["everything"]
    assert everything["status"] == "loaded"
    assert everything["source"] == "path"
    assert (everything["version"], everything["eager"], everything["enabled"]) == (
        "1.2.3",
        True,
        True,
    )
    assert everything["grants"] == sorted(everything["capabilities"])
    assert everything["error"] is None

    failures = {
        ext_id: (entry["status"], (entry["error"] or {}).get("phase"))
        for ext_id, entry in listed.items()
        if ext_id in ("denied", "broken-setup", "broken-import", "bad_manifest")
    }
    assert failures == {
        "denied": ("error", "setup"),
        "broken-setup": ("error", "setup"),
        "broken-import": ("error", "import"),
        "bad_manifest": ("error", "manifest"),
    }
    assert "TOOLS" in listed["denied"]["error"]["message"]
    assert "setup exploded" in listed["broken-setup"]["error"]["message"]
    assert (listed["lazy"]["status"], listed["lazy"]["eager"]) == ("discovered", False)
    assert (listed["disabled"]["status"], listed["disabled"]["enabled"]) == ("discovered", False)


async def test_a_crashing_background_job_shows_as_an_error(
    client: httpx.AsyncClient, alice: Caller, wait_for: WaitFor
) -> None:
    async def crashed() -> bool:
        entry = (await _listed(client, alice))["crashing-job"]
        return entry["status"] == "error" and entry["error"]["phase"] == "background"

    await wait_for(crashed, timeout=10)
    message = (await _listed(client, alice))["crashing-job"]["error"]["message"]
    assert "crash number" in message


async def test_extension_routes_need_their_scope(
    client: httpx.AsyncClient, make_agent: MakeAgent, alice: Caller, admin: Caller
) -> None:
    mine = await make_agent("ext-user", ["ext:everything:routes"])
    answered = await client.get("/ext/everything/", headers=mine.headers)
    assert answered.status_code == 200
    assert answered.json() == {"extension": "everything", "started": True}
    assert (await client.get("/ext/everything/", headers=admin.headers)).status_code == 200

    refused = await client.get("/ext/everything/", headers=alice.headers)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "ext:everything:routes" in refused.json()["detail"]
    assert (await client.get("/ext/lazy/items", headers=mine.headers)).status_code == 403
    assert (await client.get("/ext/everything/")).status_code == 401


async def test_a_lazy_extension_answers_its_first_request(
    client: httpx.AsyncClient, admin: Caller
) -> None:
    first = await client.get("/ext/lazy/items", headers=admin.headers)
    assert first.status_code == 200, "answered directly, not redirected"
    assert first.json() == ["apple", "pear"]
    index = await client.get("/ext/lazy/", headers=admin.headers)
    assert index.json() == {"setups": 1, "started": 1}, "loaded once, startup hooks ran"
    entry = (await _listed(client, admin))["lazy"]
    assert (entry["status"], entry["requests"]) == ("loaded", 2)


async def test_a_broken_extension_is_503_and_the_rest_keeps_working(
    client: httpx.AsyncClient, admin: Caller
) -> None:
    for ext_id, phase in (("broken-import", "import"), ("broken-setup", "setup")):
        response = await client.get(f"/ext/{ext_id}/", headers=admin.headers)
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        assert f"({phase})" in response.json()["detail"]
    assert (await client.get("/ext/disabled/", headers=admin.headers)).status_code == 404
    assert (await client.get("/ext/everything/", headers=admin.headers)).status_code == 200
    assert (await client.get("/tasks", headers=admin.headers)).status_code == 200
    assert (await client.get("/health/live")).status_code == 200


async def test_extension_tools_are_usable_in_pipelines(
    client: httpx.AsyncClient, alice: Caller
) -> None:
    tool = await client.get("/tools/ext.everything.greet", headers=alice.headers)
    assert tool.status_code == 200, tool.text
    assert tool.json()["input_schema"]["required"] == ["name"]

    valid = await client.post("/pipelines/validate", json={"payload": GREET}, headers=alice.headers)
    assert valid.status_code == 200, valid.text
    assert valid.json() == {"valid": True}
    body = {"title": "greeter", "schedule_kind": "event", "schedule_expr": "hi", "payload": GREET}
    assert (await client.post("/tasks", json=body, headers=alice.headers)).status_code == 201


@pytest.mark.parametrize(
    ("uses", "arguments"),
    [
        pytest.param("ext.denied.sneaky", {}, id="denied_tool_never_registered"),
        pytest.param("ext.everything.greet", {"nom": "Ada"}, id="input_schema_checked"),
    ],
)
async def test_invalid_extension_tool_use_is_422(
    client: httpx.AsyncClient, alice: Caller, uses: str, arguments: dict[str, Any]
) -> None:
    payload = {"pipeline": [{"id": "x", "uses": uses, "with": arguments}]}
    response = await client.post(
        "/pipelines/validate", json={"payload": payload}, headers=alice.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"][:2] == ["body", "payload"]
