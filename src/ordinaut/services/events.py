"""Publishing events: stored, matched to event and condition tasks, announced — one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jmespath
import structlog
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from ordinaut.core.ids import new_id
from ordinaut.core.models import Task
from ordinaut.services.context import Actor, ServiceContext
from ordinaut.services.tasks import occurrence_row
from ordinaut.store import occurrences, tasks
from ordinaut.store.channels import WORK_AVAILABLE
from ordinaut.store.events import event_insert

log = structlog.get_logger("ordinaut.events")


@dataclass(frozen=True)
class Published:
    event_id: str
    topic: str
    triggered_tasks: list[str]
    published_at: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "topic": self.topic,
            "triggered_tasks": self.triggered_tasks,
            "published_at": self.published_at,
        }


@lru_cache(maxsize=4096)
def _compiled(expression: str) -> ParsedResult:
    return jmespath.compile(expression)


def condition_holds(task: Task, view: dict[str, Any]) -> bool:
    """JMESPath truthiness of the task's test over the event; a failing test is just false."""
    try:
        result = _compiled(task.schedule_expr).search(view)
    except (JMESPathError, TypeError, ValueError) as exc:
        log.warning("events.condition_failed", task_id=task.id, error=str(exc))
        return False
    if result is None or result is False:
        return False
    return not (isinstance(result, str | list | dict) and not result)


async def publish_event(
    ctx: ServiceContext,
    *,
    topic: str,
    payload: Any,
    agent_id: str | None,
    source: str | None = None,
    request_id: str | None = None,
) -> Published:
    """Store the event and give one occurrence to every active task it triggers."""
    event_id = new_id()
    async with ctx.unit_of_work(Actor(agent_id, request_id)) as uow:
        await event_insert(
            uow.conn,
            id=event_id,
            topic=topic,
            payload=payload,
            source=source,
            published_by=agent_id,
            now=uow.now,
        )
        view = {"id": event_id, "topic": topic, "payload": payload, "source": source}
        triggered = await tasks.task_event_subscribers(uow.conn, topic)
        triggered += [
            t for t in await tasks.task_condition_watchers(uow.conn) if condition_holds(t, view)
        ]
        rows = [
            occurrence_row(t, uow.now, uow.now, reason="event", event_id=event_id)
            for t in triggered
        ]
        await occurrences.due_work_enqueue(uow.conn, rows)
        await uow.emit(
            "event.published",
            {
                "event_id": event_id,
                "topic": topic,
                "payload": payload,
                "source": source,
                "triggered_tasks": [t.id for t in triggered],
            },
        )
        for row in rows:
            await uow.emit(
                "occurrence.enqueued",
                {
                    "task_id": row["task_id"],
                    "due_work_id": row["id"],
                    "event_id": event_id,
                    "scheduled_for": uow.now.isoformat(),
                },
                row["task_id"],
            )
        if rows:
            uow.wake(WORK_AVAILABLE)
    return Published(event_id, topic, [t.id for t in triggered], uow.now.isoformat())
