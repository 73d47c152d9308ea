"""Tools that run inside Ordinaut itself: echo, debug logging, sleeping, publishing events."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ordinaut.core.states import Scope
from ordinaut.pipeline.registry import PublishEvent, Tool, ToolCallContext, ToolError

logger = logging.getLogger("ordinaut.pipeline.debug")

ANY_VALUE: dict[str, Any] = {}
LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
MAX_SLEEP_SECONDS = 3600


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


async def echo_message(args: dict[str, Any], ctx: ToolCallContext) -> dict[str, Any]:
    return {"message": args["message"]}


async def debug_log(args: dict[str, Any], ctx: ToolCallContext) -> dict[str, Any]:
    level = LOG_LEVELS[args.get("level", "info")]
    logger.log(
        level, "%s", args["message"], extra={"task_id": ctx.task.get("id"), "step_id": ctx.step_id}
    )
    return {"logged": True}


async def time_sleep(args: dict[str, Any], ctx: ToolCallContext) -> dict[str, Any]:
    await asyncio.sleep(args["seconds"])
    return {"slept_seconds": args["seconds"]}


def events_publish(publish_event: PublishEvent | None) -> Any:
    """The handler of events.publish, bound to how this process publishes events."""

    async def publish(args: dict[str, Any], ctx: ToolCallContext) -> dict[str, Any]:
        if publish_event is None:
            raise ToolError(
                "events.publish is not available: no event publisher is configured", retryable=False
            )
        event_id = await publish_event(args["topic"], args.get("payload", {}))
        return {"event_id": str(event_id)}

    return publish


def builtin_tools(publish_event: PublishEvent | None) -> list[Tool]:
    return [
        Tool(
            "echo.message",
            "Return the message unchanged (any JSON value): shows what a step received.",
            _object({"message": ANY_VALUE}, ["message"]),
            _object({"message": ANY_VALUE}, ["message"]),
            5.0,
            (),
            "builtin",
            echo_message,
        ),
        Tool(
            "debug.log",
            "Write the message to Ordinaut's log at the given level (default info).",
            _object({"message": ANY_VALUE, "level": {"enum": list(LOG_LEVELS)}}, ["message"]),
            _object({"logged": {"const": True}}, ["logged"]),
            5.0,
            (),
            "builtin",
            debug_log,
        ),
        Tool(
            "time.sleep",
            f"Wait the given seconds (0..{MAX_SLEEP_SECONDS}); for tests of long-running steps.",
            _object(
                {"seconds": {"type": "number", "minimum": 0, "maximum": MAX_SLEEP_SECONDS}},
                ["seconds"],
            ),
            _object({"slept_seconds": {"type": "number"}}, ["slept_seconds"]),
            float(MAX_SLEEP_SECONDS + 60),
            (),
            "builtin",
            time_sleep,
        ),
        Tool(
            "events.publish",
            "Publish an Ordinaut event; tasks scheduled on its topic run.",
            _object(
                {
                    "topic": {"type": "string", "minLength": 1, "maxLength": 200},
                    "payload": ANY_VALUE,
                },
                ["topic"],
            ),
            _object({"event_id": {"type": "string"}}, ["event_id"]),
            10.0,
            (Scope.EVENTS_PUBLISH.value,),
            "builtin",
            events_publish(publish_event),
        ),
    ]
