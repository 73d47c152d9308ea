"""Running a pipeline: steps in order, each rendered, checked, called, checked and recorded.

`run_pipeline` never raises for a failing step or a payload that no longer validates; it
returns a `PipelineResult` whose `retryable` tells the worker whether another attempt may help.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ordinaut.core.clock import Clock
from ordinaut.core.errors import InvalidInput
from ordinaut.pipeline.conditions import condition_holds
from ordinaut.pipeline.expressions import ExpressionError, format_instant
from ordinaut.pipeline.redaction import redact
from ordinaut.pipeline.registry import ToolCallContext, ToolError, ToolRegistry
from ordinaut.pipeline.templates import render
from ordinaut.pipeline.validation import Pipeline, Step, parse_pipeline

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext:
    """What a run knows about itself; `task`, `run` and `event` must be JSON-like (str ids)."""

    task: dict[str, Any]
    run: dict[str, Any]
    event: dict[str, Any] | None
    owner_scopes: frozenset[str]


@dataclass(frozen=True)
class PipelineResult:
    """`output` is `{"steps": [record, ...]}`, JSON-able, secrets redacted."""

    success: bool
    output: dict[str, Any]
    error: str | None
    retryable: bool


@dataclass(frozen=True)
class _Outcome:
    record: dict[str, Any]
    value: Any = None
    error: ToolError | None = None


async def run_pipeline(
    payload: dict[str, Any], context: RunContext, registry: ToolRegistry, clock: Clock
) -> PipelineResult:
    """Run the steps of `payload` in order; stop at a failure unless `on_error: continue`."""
    await registry.refresh(clock.now())
    try:
        pipeline = _checked_pipeline(payload, registry, context.owner_scopes)
    except InvalidInput as exc:
        errors = [error.as_dict() for error in exc.errors]
        return PipelineResult(False, {"steps": [], "errors": errors}, exc.message, False)
    saved: dict[str, Any] = {}
    data = {
        "now": "",
        "params": payload.get("params", {}),
        "steps": saved,
        "task": context.task,
        "run": context.run,
        "event": context.event,
    }
    records: list[dict[str, Any]] = []
    for step in pipeline.steps:
        outcome = await _run_step(step, data, context, clock)
        records.append(outcome.record)
        if outcome.error is None:
            if step.save_as is not None and outcome.record["status"] == "ok":
                saved[step.save_as] = outcome.value
        elif step.on_error == "fail":
            message = f"step {step.id!r} ({step.tool.name}) failed: {outcome.error.message}"
            return PipelineResult(False, {"steps": records}, message, outcome.error.retryable)
    return PipelineResult(True, {"steps": records}, None, False)


def _checked_pipeline(
    payload: dict[str, Any], registry: ToolRegistry, scopes: frozenset[str]
) -> Pipeline:
    """The payload re-checked against today's tools; memoised, as a task runs the same payload
    again and again (the check costs more than running a step of echo.message)."""
    try:
        key = (json.dumps(payload), scopes)
    except (TypeError, ValueError):  # not JSON: check it every time
        return parse_pipeline(payload, registry, scopes, ("payload",))
    return registry.derived(key, lambda: parse_pipeline(payload, registry, scopes, ("payload",)))


async def _run_step(
    step: Step, data: dict[str, Any], context: RunContext, clock: Clock
) -> _Outcome:
    started_at = clock.now()
    began = time.perf_counter()
    data["now"] = format_instant(started_at)
    record: dict[str, Any] = {
        "id": step.id,
        "uses": step.tool.name,
        "status": "ok",
        "started_at": started_at.isoformat(),
        "duration_ms": 0.0,
    }
    outcome = await _attempt_step(step, data, context, started_at, record)
    record["duration_ms"] = round((time.perf_counter() - began) * 1000, 3)
    if outcome.error is not None:
        record["status"] = "failed"
        record["error"] = outcome.error.message
    return outcome


async def _attempt_step(
    step: Step,
    data: Mapping[str, Any],
    context: RunContext,
    now: datetime,
    record: dict[str, Any],
) -> _Outcome:
    try:
        if step.condition is not None and not condition_holds(step.condition, data, now):
            record["status"] = "skipped"
            record["reason"] = f"condition {step.condition.source!r} is false"
            return _Outcome(record)
        args = render(step.args, data, now)
    except ExpressionError as exc:
        return _Outcome(record, error=ToolError(str(exc), retryable=False))
    record["input"] = redact(args)
    problems = step.tool.input_problems(args)
    if problems:
        message = f"input does not match {step.tool.name}'s input schema: " + "; ".join(problems)
        return _Outcome(record, error=ToolError(message, retryable=False))
    call_context = ToolCallContext(context.task, context.run, step.id, step.timeout_seconds)
    value, error = await _call_with_retries(step, args, call_context, record)
    if error is not None:
        return _Outcome(record, error=error)
    record["output"] = redact(value)
    return _Outcome(record, value)


async def _call_with_retries(
    step: Step, args: dict[str, Any], ctx: ToolCallContext, record: dict[str, Any]
) -> tuple[Any, ToolError | None]:
    error: ToolError | None = None
    for attempt in range(1, step.max_attempts + 1):
        record["attempts"] = attempt
        value, error = await _call_once(step, args, ctx)
        if error is None or not error.retryable or attempt == step.max_attempts:
            return value, error
        await asyncio.sleep(step.backoff_seconds * 2 ** (attempt - 1))
    return None, error


async def _call_once(
    step: Step, args: dict[str, Any], ctx: ToolCallContext
) -> tuple[Any, ToolError | None]:
    tool = step.tool
    try:
        async with asyncio.timeout(step.timeout_seconds):
            value = await tool.call(args, ctx)
    except TimeoutError:
        return None, ToolError(f"timed out after {step.timeout_seconds:g}s", retryable=True)
    except ToolError as exc:
        return None, exc
    except Exception as exc:  # a tool's own bug: recorded as a step error, never a crash
        logger.exception("tool %s raised", tool.name)
        return None, ToolError(f"{type(exc).__name__}: {exc}", retryable=True)
    problems = tool.output_problems(value)
    if problems:
        message = f"output does not match {tool.name}'s output schema: " + "; ".join(problems)
        return None, ToolError(message, retryable=False)
    return value, None
