"""HTTP tools against a real server on 127.0.0.1: http.request, catalog endpoints, egress policy."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from ordinaut.core.clock import FrozenClock
from ordinaut.core.settings import Settings
from ordinaut.pipeline import PipelineResult, RunContext, ToolError, build_registry, run_pipeline
from ordinaut.pipeline.egress import EgressPolicy

CONTEXT = RunContext({"id": "task-1"}, {"id": "run-1"}, None, frozenset({"tasks:write"}))
CLOCK_START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def _app(hits: dict[str, int]) -> Starlette:
    async def echo(request: Request) -> Response:
        body = await request.body()
        return JSONResponse(
            {
                "method": request.method,
                "query": dict(request.query_params),
                "headers": {k: v for k, v in request.headers.items() if k.startswith("x-")},
                "json": json.loads(body)
                if body and request.headers.get("content-type") == "application/json"
                else None,
                "text": body.decode()
                if body and request.headers.get("content-type") != "application/json"
                else None,
            }
        )

    async def text(request: Request) -> Response:
        return PlainTextResponse("plain ✓")

    async def status(request: Request) -> Response:
        return PlainTextResponse("nope", status_code=int(request.path_params["code"]))

    async def slow(request: Request) -> Response:
        await asyncio.sleep(1)
        return JSONResponse({})

    async def flaky(request: Request) -> Response:
        hits["flaky"] = hits.get("flaky", 0) + 1
        if hits["flaky"] < 3:
            return PlainTextResponse("busy", status_code=503)
        return JSONResponse({"hits": hits["flaky"]})

    async def to_metadata(request: Request) -> Response:
        return RedirectResponse("http://169.254.169.254/latest/meta-data/", status_code=302)

    async def weather(request: Request) -> Response:
        city = request.path_params["city"]
        return JSONResponse(
            {
                "city": city,
                "units": request.query_params.get("units"),
                "temp": 21,
                "key": request.headers.get("x-api-key"),
            }
        )

    async def notes(request: Request) -> Response:
        return JSONResponse({"saved": await request.json()}, status_code=201)

    return Starlette(
        routes=[
            Route("/echo", echo, methods=["GET", "POST", "PUT", "DELETE"]),
            Route("/text", text),
            Route("/status/{code:int}", status),
            Route("/slow", slow),
            Route("/flaky", flaky),
            Route("/to-metadata", to_metadata),
            Route("/weather/{city}", weather),
            Route("/notes", notes, methods=["POST"]),
        ]
    )


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, dict[str, int]]]:
    hits: dict[str, int] = {}
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    instance = uvicorn.Server(
        uvicorn.Config(
            _app(hits), log_level="warning", lifespan="off", timeout_graceful_shutdown=0.2
        )
    )
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        assert time.monotonic() < deadline, "test HTTP server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}", hits
    instance.should_exit = True
    thread.join(timeout=10)
    sock.close()


async def _run(payload: dict[str, Any], settings: Settings | None = None) -> PipelineResult:
    registry = await build_registry(settings or Settings())
    return await run_pipeline(payload, CONTEXT, registry, FrozenClock(CLOCK_START))


def _output(result: PipelineResult, index: int = 0) -> Any:
    assert result.success, result.error
    return result.output["steps"][index]["output"]


async def test_http_request_get_with_query_and_headers(server: tuple[str, dict[str, int]]) -> None:
    base, _ = server
    result = await _run(
        {
            "params": {"base": base},
            "pipeline": [
                {
                    "uses": "http.request",
                    "with": {
                        "url": "${params.base}/echo",
                        "query": {"q": "café", "n": 2, "tags": ["a", "b"]},
                        "headers": {"X-Trace": "t1", "Authorization": "Bearer sk-live"},
                    },
                }
            ],
        }
    )
    output = _output(result)
    assert output["status"] == 200
    assert output["headers"]["content-type"] == "application/json"
    assert output["json"]["query"] == {"q": "café", "n": "2", "tags": "b"}
    assert output["json"]["headers"] == {"x-trace": "t1"}
    recorded = result.output["steps"][0]["input"]["headers"]
    assert recorded == {"X-Trace": "t1", "Authorization": "***"}


async def test_http_request_posts_json_and_text(server: tuple[str, dict[str, int]]) -> None:
    base, _ = server
    result = await _run(
        {
            "pipeline": [
                {
                    "uses": "http.request",
                    "with": {
                        "method": "POST",
                        "url": f"{base}/echo",
                        "json": {"a": [1, {"b": None}]},
                    },
                },
                {
                    "uses": "http.request",
                    "with": {"method": "PUT", "url": f"{base}/echo", "body": "raw ✓"},
                },
                {"uses": "http.request", "with": {"url": f"{base}/text"}},
            ]
        }
    )
    assert _output(result, 0)["json"]["json"] == {"a": [1, {"b": None}]}
    assert _output(result, 1)["json"]["text"] == "raw ✓"
    assert _output(result, 2)["text"] == "plain ✓"
    assert "json" not in _output(result, 2)


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        pytest.param(404, False, id="client_error"),
        pytest.param(503, True, id="server_error"),
        pytest.param(429, True, id="rate_limited"),
    ],
)
async def test_http_error_status_fails_the_step(
    server: tuple[str, dict[str, int]], code: int, retryable: bool
) -> None:
    base, _ = server
    result = await _run(
        {"pipeline": [{"uses": "http.request", "with": {"url": f"{base}/status/{code}"}}]}
    )
    assert not result.success
    assert result.retryable is retryable
    assert f"HTTP {code}" in (result.error or "")


async def test_http_error_status_can_be_returned(server: tuple[str, dict[str, int]]) -> None:
    base, _ = server
    result = await _run(
        {
            "pipeline": [
                {
                    "uses": "http.request",
                    "with": {"url": f"{base}/status/404", "raise_for_status": False},
                }
            ]
        }
    )
    assert _output(result)["status"] == 404
    assert _output(result)["text"] == "nope"


async def test_http_timeout_is_retryable(server: tuple[str, dict[str, int]]) -> None:
    base, _ = server
    result = await _run(
        {"pipeline": [{"uses": "http.request", "with": {"url": f"{base}/slow", "timeout": 0.1}}]}
    )
    assert not result.success
    assert result.retryable
    assert "timed out" in (result.error or "")


async def test_step_retry_recovers_from_503(server: tuple[str, dict[str, int]]) -> None:
    base, hits = server
    hits["flaky"] = 0
    result = await _run(
        {
            "pipeline": [
                {
                    "uses": "http.request",
                    "with": {"url": f"{base}/flaky"},
                    "retry": {"max_attempts": 3, "backoff_seconds": 0.01},
                }
            ]
        }
    )
    assert _output(result)["json"] == {"hits": 3}
    assert result.output["steps"][0]["attempts"] == 3


async def test_connection_refused_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = await _run(
        {"pipeline": [{"uses": "http.request", "with": {"url": f"http://127.0.0.1:{port}/"}}]}
    )
    assert not result.success
    assert result.retryable
    assert "failed" in (result.error or "")


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://169.254.169.254/latest/meta-data/", id="aws_metadata_ip"),
        pytest.param("http://[fd00:ec2::254]/", id="aws_metadata_ipv6"),
        pytest.param("http://metadata.google.internal/computeMetadata/v1/", id="gcp_metadata_name"),
        pytest.param("http://METADATA.google.internal./", id="gcp_metadata_case_and_dot"),
        pytest.param("http://[::ffff:169.254.169.254]/", id="ipv4_mapped"),
    ],
)
async def test_metadata_addresses_are_always_denied(url: str) -> None:
    settings = Settings(EGRESS_ALLOW_HOSTS="*")  # even a permissive allow list cannot open them
    result = await _run({"pipeline": [{"uses": "http.request", "with": {"url": url}}]}, settings)
    assert not result.success
    assert not result.retryable
    assert "egress" in (result.error or "")
    assert "refused" in (result.error or "")


async def test_redirects_are_checked_too(server: tuple[str, dict[str, int]]) -> None:
    base, _ = server
    result = await _run(
        {
            "pipeline": [
                {
                    "uses": "http.request",
                    "with": {"url": f"{base}/to-metadata", "follow_redirects": True},
                }
            ]
        }
    )
    assert not result.success
    assert "169.254.169.254" in (result.error or "")


async def test_deny_and_allow_lists(server: tuple[str, dict[str, int]]) -> None:
    base, _ = server
    payload = {"pipeline": [{"uses": "http.request", "with": {"url": f"{base}/text"}}]}
    denied = await _run(payload, Settings(EGRESS_DENY_HOSTS="127.0.0.0/8"))
    assert not denied.success
    assert "EGRESS_DENY_HOSTS" in (denied.error or "")
    not_allowed = await _run(payload, Settings(EGRESS_ALLOW_HOSTS="api.example.com,*.example.org"))
    assert not not_allowed.success
    assert "EGRESS_ALLOW_HOSTS" in (not_allowed.error or "")
    allowed = await _run(payload, Settings(EGRESS_ALLOW_HOSTS="127.0.0.1"))
    assert allowed.success


@pytest.mark.parametrize(
    ("allow", "deny", "host", "ok"),
    [
        pytest.param([], [], "example.com", True, id="empty_allows_all"),
        pytest.param(["*.example.com"], [], "api.example.com", True, id="wildcard_subdomain"),
        pytest.param(["*.example.com"], [], "example.com", False, id="wildcard_not_apex"),
        pytest.param(["*.example.com"], [], "evilexample.com", False, id="wildcard_suffix_trick"),
        pytest.param(["example.com"], ["example.com"], "example.com", False, id="deny_wins"),
        pytest.param([], ["10.0.0.0/8"], "10.1.2.3", False, id="deny_cidr"),
        pytest.param(["10.0.0.0/8"], [], "10.1.2.3", True, id="allow_cidr"),
        pytest.param([], [], "169.254.169.254", False, id="metadata"),
    ],
)
async def test_egress_policy_table(allow: list[str], deny: list[str], host: str, ok: bool) -> None:
    policy = EgressPolicy.from_hosts(allow, deny)
    if ok:
        await policy.check(host, 80)
    else:
        with pytest.raises(ToolError):
            await policy.check(host, 80)


async def test_catalog_http_tools(
    server: tuple[str, dict[str, int]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _ = server
    monkeypatch.setenv("WEATHER_KEY", "wk-secret")
    catalog = tmp_path / "tools.yaml"
    catalog.write_text(f"""
http_tools:
  - name: weather.forecast
    description: Forecast for a city
    method: GET
    url: {base}/weather/{{city}}
    headers:
      X-Api-Key: "${{env:WEATHER_KEY}}"
    input_schema:
      type: object
      properties:
        city: {{type: string}}
        units: {{enum: [metric, imperial]}}
      required: [city]
    output_schema:
      type: object
      properties:
        temp: {{type: number}}
      required: [temp]
    timeout_seconds: 5
  - name: weather.broken
    method: GET
    url: {base}/text
    output_schema:
      type: object
      properties:
        temp: {{type: number}}
      required: [temp]
  - name: notes.save
    url: {base}/notes
    input_schema: {{type: object}}
    scopes: [notes:write]
""")
    settings = Settings(TOOLS_CATALOG=str(catalog))
    registry = await build_registry(settings)
    forecast = registry.get("weather.forecast")
    assert (forecast.transport, forecast.timeout_seconds) == ("http", 5.0)
    context = RunContext({"id": "t"}, {"id": "r"}, None, frozenset({"notes:write"}))
    result = await run_pipeline(
        {
            "pipeline": [
                {
                    "uses": "weather.forecast",
                    "with": {"city": "São Paulo", "units": "metric"},
                    "save_as": "w",
                },
                {
                    "uses": "notes.save",
                    "with": {"text": "It is ${steps.w.temp}°C in ${steps.w.city}"},
                },
            ]
        },
        context,
        registry,
        FrozenClock(CLOCK_START),
    )
    assert _output(result, 0) == {
        "city": "São Paulo",
        "units": "metric",
        "temp": 21,
        "key": "wk-secret",
    }
    assert _output(result, 1) == {"saved": {"text": "It is 21°C in São Paulo"}}
    broken = await run_pipeline(
        {"pipeline": [{"uses": "weather.broken"}]}, CONTEXT, registry, FrozenClock(CLOCK_START)
    )
    assert not broken.success
    assert "output schema" in (broken.error or "")
    assert "'temp' is a required property (schema: required)" in (broken.error or "")
    without_scope = await run_pipeline(
        {"pipeline": [{"uses": "notes.save", "with": {}}]},
        CONTEXT,
        registry,
        FrozenClock(CLOCK_START),
    )
    assert not without_scope.success
    assert "notes:write" in (without_scope.error or "")
