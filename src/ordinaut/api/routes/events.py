"""Routes: events — publish, topics, recent, cleanup and a live Server-Sent Events stream."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ordinaut.api.auth import require
from ordinaut.core.models import Agent
from ordinaut.events import BusMessage, EventBus
from ordinaut.services.events import publish_event
from ordinaut.store.events import event_prune, event_topics
from ordinaut.store.outbox import CORE_STREAM

router = APIRouter(tags=["events"])
TOPIC_PATTERN = r"^[^\s]{1,200}$"
KEEPALIVE_SECONDS = 15.0
STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str = Field(pattern=TOPIC_PATTERN, description="no whitespace, 1..200 characters")
    payload: Any = Field(default_factory=dict)
    source: str | None = Field(None, max_length=200)


class EventPublished(BaseModel):
    event_id: str
    topic: str
    triggered_tasks: list[str]
    published_at: str


def _bus(request: Request) -> EventBus:
    bus: EventBus = request.app.state.bus
    return bus


@router.post("/events", status_code=status.HTTP_202_ACCEPTED, response_model=EventPublished)
async def publish(
    body: EventIn, request: Request, agent: Annotated[Agent, Depends(require("events:publish"))]
) -> dict[str, Any]:
    """Store the event; every active task it triggers gets one occurrence, atomically."""
    published = await publish_event(
        request.app.state.context,
        topic=body.topic,
        payload=body.payload,
        agent_id=agent.id,
        source=body.source or agent.name,
        request_id=request.state.request_id,
    )
    return published.as_dict()


@router.get("/events/topics")
async def topics(
    request: Request,
    _: Annotated[Agent, Depends(require("events:read"))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    async with request.app.state.context.store.connect() as conn:
        return {"topics": await event_topics(conn, limit=limit)}


def _message_view(message: BusMessage) -> dict[str, Any]:
    return {"id": message.id, "type": message.type, "data": message.data}


@router.get("/events/stream/recent")
async def recent(
    request: Request,
    _: Annotated[Agent, Depends(require("events:read"))],
    count: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """The newest core events on the bus, newest first."""
    messages = await _bus(request).recent(CORE_STREAM, count)
    return {"stream": CORE_STREAM, "events": [_message_view(m) for m in messages]}


@router.delete("/events/stream/cleanup")
async def cleanup(
    request: Request,
    _: Annotated[Agent, Depends(require("admin"))],
    keep: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    older_than_days: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """Trim the core stream to its newest `keep` entries; optionally prune stored events."""
    trimmed = await _bus(request).trim(CORE_STREAM, keep)
    pruned = 0
    if older_than_days is not None:
        context = request.app.state.context
        before = context.clock.now() - timedelta(days=older_than_days)
        async with context.store.transaction() as conn:
            pruned = await event_prune(conn, before=before)
    return {"stream": CORE_STREAM, "trimmed": trimmed, "events_pruned": pruned}


@router.get("/events/stream", response_class=StreamingResponse)
async def stream(
    request: Request,
    _: Annotated[Agent, Depends(require("events:read"))],
    topic: str | None = None,
    type: str | None = None,
) -> StreamingResponse:
    """Live core events as Server-Sent Events; filter by event `type` or published `topic`.

    The stream starts after the newest entry at connection time (or after `Last-Event-ID`,
    when a reconnecting client sends one), so nothing published after the `: connected`
    comment is missed; an unreachable bus is a 503 before the stream opens.
    """
    bus = _bus(request)
    resume = request.headers.get("last-event-id", "")
    start = resume if STREAM_ID.match(resume) else await _newest_id(bus)
    return StreamingResponse(
        _sse(request, bus.subscribe(CORE_STREAM, last_id=start), topic, type),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _newest_id(bus: EventBus) -> str:
    newest = await bus.recent(CORE_STREAM, 1)
    return newest[0].id if newest else "0-0"


def _wanted(message: BusMessage, topic: str | None, kind: str | None) -> bool:
    if kind and message.type != kind:
        return False
    return not topic or message.data.get("topic") == topic


def _frame(message: BusMessage) -> str:
    return f"id: {message.id}\nevent: {message.type}\ndata: {json.dumps(message.data)}\n\n"


async def _sse(
    request: Request, messages: AsyncIterator[BusMessage], topic: str | None, kind: str | None
) -> AsyncIterator[str]:
    yield ": connected\n\n"
    pending: asyncio.Task[BusMessage] | None = None
    try:
        while not await request.is_disconnected():
            pending = pending or asyncio.ensure_future(anext(messages))
            done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_SECONDS)
            if not done:
                yield ": keepalive\n\n"
                continue
            try:
                message = pending.result()
            except StopAsyncIteration:  # the bus closed: the app is shutting down
                return
            pending = None
            if _wanted(message, topic, kind):
                yield _frame(message)
    finally:
        if pending is not None:  # the subscription can only be closed once its read stopped
            pending.cancel()
            await asyncio.wait({pending})
        await messages.aclose()  # type: ignore[attr-defined]
