"""Every payload and catalog shown in docs/pipelines.md is valid, and its first example runs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ordinaut.core.clock import FrozenClock
from ordinaut.core.errors import InvalidInput
from ordinaut.core.settings import Settings
from ordinaut.pipeline import (
    RunContext,
    Tool,
    ToolCallContext,
    build_registry,
    load_catalog,
    run_pipeline,
    validate_payload,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "pipelines.md"
BLOCKS = re.findall(r"```(json|yaml)\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
JSON_BLOCKS = [json.loads(text) for kind, text in BLOCKS if kind == "json"]
PAYLOADS = [block for block in JSON_BLOCKS if "pipeline" in block]
CONTEXT = RunContext({"id": "t"}, {"id": "r"}, None, frozenset({"tasks:write"}))


async def _anything(args: dict[str, Any], ctx: ToolCallContext) -> dict[str, Any]:
    return {}


def test_the_doc_has_examples() -> None:
    assert len(PAYLOADS) >= 3
    assert any(kind == "yaml" for kind, _ in BLOCKS)


@pytest.mark.parametrize("payload", PAYLOADS, ids=[f"payload{i}" for i in range(len(PAYLOADS))])
async def test_payload_examples_validate(payload: dict[str, Any]) -> None:
    registry = await build_registry(Settings())
    for step in payload["pipeline"]:
        if registry.find(step["uses"]) is None:  # a catalog tool of the example: any arguments
            registry.register(
                Tool(step["uses"], "", {"type": "object"}, {}, 5.0, (), "mcp", _anything)
            )
    validate_payload(payload, registry, CONTEXT.owner_scopes)


async def test_first_example_runs_as_documented() -> None:
    registry = await build_registry(Settings())
    clock = FrozenClock(datetime(2026, 3, 2, 7, tzinfo=UTC))
    result = await run_pipeline(PAYLOADS[0], CONTEXT, registry, clock)
    assert [step["status"] for step in result.output["steps"]] == ["ok", "ok"]
    assert result.output["steps"][0]["output"] == {"message": "Hello John"}
    quieter = {**PAYLOADS[0], "params": {"name": "John", "count": 2}}
    result = await run_pipeline(quieter, CONTEXT, registry, clock)
    assert result.output["steps"][1]["reason"] == "condition 'params.count > `3`' is false"


async def test_documented_validation_errors_are_the_real_ones() -> None:
    (documented,) = [block["errors"] for block in JSON_BLOCKS if "errors" in block]
    payload = {
        "pipeline": [
            {"uses": "echo.mesage", "with": {"message": 1}},
            {"uses": "http.request", "with": {"url": 5}},
        ]
    }
    with pytest.raises(InvalidInput) as caught:
        validate_payload(payload, await build_registry(Settings()), CONTEXT.owner_scopes)
    assert [error.as_dict() for error in caught.value.errors] == documented


def test_catalog_examples_load(tmp_path: Path) -> None:
    for index, (kind, text) in enumerate(BLOCKS):
        if kind != "yaml":
            continue
        path = tmp_path / f"catalog{index}.yaml"
        path.write_text(text)
        env = {"WEATHER_API_KEY": "w", "CALENDAR_TOKEN": "c"}
        catalog = load_catalog(path, env)
        assert catalog.http_tools or catalog.mcp_servers
