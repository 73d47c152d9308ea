"""The event spine end to end: `POST /ext/events_demo/notes` publishes a `note.added` event on
the stream `ext:events_demo:demo:notes`; a supervised background job in every API process
reads it through the consumer group `tally` (on Redis the processes share the group, so each
note is consumed once in all), acknowledges it and counts it; `GET /ext/events_demo/notes`
shows what this process consumed. A starting point for extensions that react to events.
"""

from __future__ import annotations

import os
import socket
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from ordinaut.plugins import Capability, ExtensionContext

requires = [
    Capability.ROUTES,
    Capability.EVENTS_PUB,
    Capability.EVENTS_SUB,
    Capability.BACKGROUND_TASKS,
]
NS, NAME, GROUP = "demo", "notes", "tally"


class Note(BaseModel):
    text: str = Field(min_length=1, max_length=1000)


@dataclass
class Tally:
    """What this process's consumer has read and acknowledged."""

    consumer: str
    consumed: int = 0
    last: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=20))


def setup(ctx: ExtensionContext) -> None:
    tally = Tally(f"{socket.gethostname()}-{os.getpid()}")

    @ctx.routes.post("/notes", status_code=202, summary="Publish a note")
    async def add(note: Note) -> dict[str, str]:
        return {"id": await ctx.events.publish(NS, NAME, "note.added", {"text": note.text})}

    @ctx.routes.get("/notes", summary="What this process consumed")
    async def consumed() -> dict[str, Any]:
        return {"consumer": tally.consumer, "consumed": tally.consumed, "last": list(tally.last)}

    async def consume() -> None:
        # from the stream's start: a note published by the request that loaded us still counts
        await ctx.events.ensure_group(NS, NAME, GROUP, start="0")
        while True:
            batch = await ctx.events.read_group(NS, NAME, GROUP, tally.consumer, block_ms=1000)
            for message in batch:
                tally.consumed += 1
                tally.last.append({"id": message.id, "type": message.type, **message.data})
            if batch:
                await ctx.events.ack(NS, NAME, GROUP, *(m.id for m in batch))

    ctx.background.run("tally", consume)
