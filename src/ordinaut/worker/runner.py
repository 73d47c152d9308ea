"""The seam between the worker and what an occurrence does: a `PipelineRunner`.

`TaskPipelineRunner` runs the task's pipeline with `ordinaut.pipeline.run_pipeline`; tests
and benchmarks pass other runners (sleeping, failing, no-op) through the same seam.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from ordinaut.core.clock import Clock
from ordinaut.core.models import DueWork, Task
from ordinaut.pipeline.executor import RunContext, run_pipeline
from ordinaut.pipeline.registry import ToolRegistry
from ordinaut.store.agents import agent_get
from ordinaut.store.engine import Store

SCOPES_TTL_SECONDS = 10.0  # a scope change reaches running workers within this long


@dataclass(frozen=True)
class RunOutcome:
    """What one attempt produced; `retryable` False means another attempt cannot help."""

    success: bool
    output: dict[str, Any] | None
    error: str | None
    retryable: bool


class PipelineRunner(Protocol):
    async def __call__(
        self, task: Task, work: DueWork, run_id: str, event: dict[str, Any] | None
    ) -> RunOutcome: ...


def task_context(task: Task) -> dict[str, Any]:
    """What a pipeline sees as `${task...}`."""
    return {
        "id": task.id,
        "title": task.title,
        "description": task.description,
        "created_by": task.created_by,
        "schedule_kind": task.schedule_kind,
        "schedule_expr": task.schedule_expr,
        "timezone": task.timezone,
        "priority": task.priority,
    }


def run_context(work: DueWork, run_id: str) -> dict[str, Any]:
    """What a pipeline sees as `${run...}`."""
    return {
        "id": run_id,
        "due_work_id": work.id,
        "attempt": work.attempt,
        "max_attempts": work.max_attempts,
        "scheduled_for": work.scheduled_for.isoformat(),
        "reason": work.reason,
    }


class TaskPipelineRunner:
    """Runs `task.payload` with the owner's scopes (cached per agent for SCOPES_TTL_SECONDS)."""

    def __init__(self, registry: ToolRegistry, clock: Clock, store: Store) -> None:
        self._registry = registry
        self._clock = clock
        self._store = store
        self._scopes: dict[str, tuple[float, frozenset[str]]] = {}

    async def __call__(
        self, task: Task, work: DueWork, run_id: str, event: dict[str, Any] | None
    ) -> RunOutcome:
        context = RunContext(
            task=task_context(task),
            run=run_context(work, run_id),
            event=event,
            owner_scopes=await self._owner_scopes(task.created_by),
        )
        result = await run_pipeline(task.payload, context, self._registry, self._clock)
        return RunOutcome(result.success, result.output, result.error, result.retryable)

    async def _owner_scopes(self, agent_id: str) -> frozenset[str]:
        cached = self._scopes.get(agent_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with self._store.connect() as conn:
            agent = await agent_get(conn, agent_id)
        scopes = frozenset(agent.scopes) if agent is not None and agent.active else frozenset()
        self._scopes[agent_id] = (time.monotonic() + SCOPES_TTL_SECONDS, scopes)
        return scopes
