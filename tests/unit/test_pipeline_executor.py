"""The executor with in-process tools: order, saving, skips, retries, timeouts, schemas, secrets."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from ordinaut.core.clock import FrozenClock
from ordinaut.pipeline import PipelineResult, RunContext, run_pipeline
from ordinaut.pipeline.builtin_tools import builtin_tools
from ordinaut.pipeline.registry import PublishEvent, Tool, ToolCallContext, ToolError, ToolRegistry

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
CONTEXT = RunContext(
    task={"id": "task-1", "title": "Test"},
    run={"id": "run-1", "attempt": 1},
    event=None,
    owner_scopes=frozenset({"tasks:write"}),
)
OBJECT = {"type": "object"}


class Flaky:
    """Fails `failures` times with a retryable error, then answers."""

    def __init__(self, failures: int, *, retryable: bool = True) -> None:
        self.failures, self.retryable, self.calls = failures, retryable, 0

    async def __call__(self, args: dict[str, Any], ctx: ToolCallContext) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise ToolError(f"failure {self.calls}", retryable=self.retryable)
        return {"calls": self.calls}


async def _wrong_output(args: dict[str, Any], ctx: ToolCallContext) -> dict[str, Any]:
    return {"count": "three"}


async def _crash(args: dict[str, Any], ctx: ToolCallContext) -> dict[str, Any]:
    raise RuntimeError("bug in tool")


def _registry(publish_event: PublishEvent | None = None, **extra: Any) -> ToolRegistry:
    registry = ToolRegistry()
    for tool in builtin_tools(publish_event):
        registry.register(tool)
    registry.register(
        Tool("test.flaky", "", OBJECT, OBJECT, 5.0, (), "builtin", extra.get("flaky", Flaky(0)))
    )
    counted = {"type": "object", "properties": {"count": {"type": "integer"}}}
    registry.register(Tool("test.wrong", "", OBJECT, counted, 5.0, (), "builtin", _wrong_output))
    registry.register(Tool("test.crash", "", OBJECT, OBJECT, 5.0, (), "builtin", _crash))
    return registry


async def _run(
    payload: dict[str, Any], registry: ToolRegistry | None = None, context: RunContext = CONTEXT
) -> PipelineResult:
    return await run_pipeline(payload, context, registry or _registry(), FrozenClock(START))


async def test_steps_run_in_order_and_saved_values_flow_with_types() -> None:
    result = await _run(
        {
            "params": {"name": "John", "count": 5},
            "pipeline": [
                {
                    "uses": "echo.message",
                    "with": {"message": {"n": "${params.count}"}},
                    "save_as": "a",
                },
                {
                    "uses": "echo.message",
                    "with": {"message": "Hello ${params.name}, ${steps.a.message.n}"},
                },
                {"uses": "echo.message", "with": {"message": "${steps.a.message.n}"}},
                {"uses": "echo.message", "with": {"message": "${now+24h}"}},
            ],
        }
    )
    assert result.success
    assert result.error is None
    outputs = [step["output"]["message"] for step in result.output["steps"]]
    assert outputs == [{"n": 5}, "Hello John, 5", 5, "2026-03-03T07:00:00Z"]
    first = result.output["steps"][0]
    assert first["id"] == "a"
    assert first["uses"] == "echo.message"
    assert first["status"] == "ok"
    assert first["started_at"] == START.isoformat()
    assert first["duration_ms"] >= 0
    assert first["input"] == {"message": {"n": 5}}


async def test_false_condition_skips_and_leaves_no_saved_value() -> None:
    result = await _run(
        {
            "params": {"count": 2},
            "pipeline": [
                {
                    "uses": "echo.message",
                    "with": {"message": 1},
                    "save_as": "big",
                    "if": "params.count > `3`",
                },
                {"uses": "echo.message", "with": {"message": "${steps.big}"}},
            ],
        }
    )
    skipped, after = result.output["steps"]
    assert skipped["status"] == "skipped"
    assert "params.count > `3`" in skipped["reason"]
    assert "output" not in skipped
    assert "input" not in skipped
    assert after["output"] == {"message": None}


async def test_retries_until_success_and_counts_attempts() -> None:
    flaky = Flaky(2)
    result = await _run(
        {"pipeline": [{"uses": "test.flaky", "retry": {"max_attempts": 3, "backoff_seconds": 0}}]},
        _registry(flaky=flaky),
    )
    assert result.success
    assert flaky.calls == 3
    assert result.output["steps"][0]["attempts"] == 3


async def test_retries_exhausted_fail_the_run_as_retryable() -> None:
    flaky = Flaky(5)
    result = await _run(
        {
            "pipeline": [
                {"uses": "test.flaky", "retry": {"max_attempts": 2, "backoff_seconds": 0.01}}
            ]
        },
        _registry(flaky=flaky),
    )
    assert not result.success
    assert result.retryable
    assert flaky.calls == 2
    assert result.error is not None
    assert "failure 2" in result.error
    assert result.output["steps"][0]["status"] == "failed"


async def test_non_retryable_errors_are_not_retried() -> None:
    flaky = Flaky(5, retryable=False)
    result = await _run(
        {"pipeline": [{"uses": "test.flaky", "retry": {"max_attempts": 4, "backoff_seconds": 0}}]},
        _registry(flaky=flaky),
    )
    assert not result.success
    assert not result.retryable
    assert flaky.calls == 1


async def test_timeout_fails_the_step_and_is_retryable() -> None:
    result = await _run(
        {
            "pipeline": [
                {"uses": "time.sleep", "with": {"seconds": 5}, "timeout_seconds": 0.05},
                {"uses": "echo.message", "with": {"message": "never"}},
            ]
        }
    )
    assert not result.success
    assert result.retryable
    assert "timed out after 0.05s" in (result.error or "")
    assert len(result.output["steps"]) == 1


async def test_on_error_continue_runs_the_next_step() -> None:
    result = await _run(
        {
            "pipeline": [
                {"uses": "test.crash", "on_error": "continue", "save_as": "c"},
                {"uses": "echo.message", "with": {"message": "${steps.c}"}},
            ]
        }
    )
    assert result.success
    crashed, after = result.output["steps"]
    assert crashed["status"] == "failed"
    assert "RuntimeError: bug in tool" in crashed["error"]
    assert after["output"] == {"message": None}


async def test_input_schema_violation_after_rendering_names_the_path() -> None:
    result = await _run(
        {
            "params": {"secs": "soon"},
            "pipeline": [{"uses": "time.sleep", "with": {"seconds": "${params.secs}"}}],
        }
    )
    assert not result.success
    assert not result.retryable
    assert "input schema" in (result.error or "")
    assert "at seconds: 'soon' is not of type 'number'" in (result.error or "")
    assert "properties/seconds/type" in (result.error or "")


async def test_output_schema_violation_names_the_path() -> None:
    result = await _run({"pipeline": [{"uses": "test.wrong"}]})
    assert not result.success
    error = result.output["steps"][0]["error"]
    assert "output schema" in error
    assert "at count" in error
    assert "properties/count/type" in error


async def test_runtime_expression_error_fails_without_retry() -> None:
    result = await _run(
        {
            "pipeline": [
                {"uses": "echo.message", "with": {"message": "${length(params.missing)}"}},
            ]
        }
    )
    assert not result.success
    assert not result.retryable
    assert "length" in (result.error or "")


async def test_invalid_payload_at_run_time_is_not_retryable() -> None:
    result = await _run({"pipeline": [{"uses": "gone.tool"}]})
    assert not result.success
    assert not result.retryable
    assert result.output["errors"][0]["loc"] == ["payload", "pipeline", 0, "uses"]


async def test_secrets_are_redacted_in_the_record_but_reach_the_tool() -> None:
    result = await _run(
        {
            "params": {"key": "sk-123"},
            "pipeline": [
                {
                    "uses": "echo.message",
                    "save_as": "e",
                    "with": {
                        "message": {
                            "headers": {"Authorization": "Bearer ${params.key}", "Accept": "json"},
                            "api_key": "${params.key}",
                            "password": "p",
                            "max_tokens": 10,
                        }
                    },
                },
                {"uses": "echo.message", "with": {"message": "${steps.e.message.api_key}"}},
            ],
        }
    )
    first, second = result.output["steps"]
    assert first["input"]["message"] == {
        "headers": {"Authorization": "***", "Accept": "json"},
        "api_key": "***",
        "password": "***",
        "max_tokens": 10,
    }
    assert "sk-123" not in str(first)
    assert second["output"] == {"message": "sk-123"}


async def test_events_publish_uses_the_injected_publisher() -> None:
    published: list[tuple[str, Any]] = []

    async def publish(topic: str, payload: Any) -> str:
        published.append((topic, payload))
        return "evt-1"

    context = RunContext(CONTEXT.task, CONTEXT.run, None, frozenset({"events:publish"}))
    payload = {
        "pipeline": [
            {
                "uses": "events.publish",
                "with": {"topic": "briefing.sent", "payload": {"task": "${task.id}"}},
            }
        ]
    }
    result = await _run(payload, _registry(publish), context)
    assert result.success
    assert published == [("briefing.sent", {"task": "task-1"})]
    assert result.output["steps"][0]["output"] == {"event_id": "evt-1"}
    unconfigured = await _run(payload, _registry(None), context)
    assert not unconfigured.success
    assert not unconfigured.retryable
    assert "no event publisher" in (unconfigured.error or "")


async def test_events_publish_needs_the_scope() -> None:
    result = await _run({"pipeline": [{"uses": "events.publish", "with": {"topic": "x"}}]})
    assert not result.success
    assert "events:publish" in (result.error or "")


async def test_debug_log_writes_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ordinaut.pipeline.debug"):
        result = await _run(
            {
                "pipeline": [
                    {
                        "uses": "debug.log",
                        "with": {"message": "hello ${task.title}", "level": "warning"},
                    }
                ]
            }
        )
    assert result.success
    assert result.output["steps"][0]["output"] == {"logged": True}
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("WARNING", "hello Test")]


async def test_event_is_visible_to_templates() -> None:
    context = RunContext(
        CONTEXT.task, CONTEXT.run, {"topic": "t", "payload": {"x": [1, 2]}}, CONTEXT.owner_scopes
    )
    result = await _run(
        {"pipeline": [{"uses": "echo.message", "with": {"message": "${event.payload.x}"}}]},
        context=context,
    )
    assert result.output["steps"][0]["output"] == {"message": [1, 2]}
