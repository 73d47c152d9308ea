"""The tool registry of a process: built-ins, the catalog, and tools extensions registered."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ordinaut.pipeline import build_registry
from ordinaut.pipeline.registry import Tool, ToolCallContext, ToolError, ToolRegistry
from ordinaut.plugins import ExtensionTool
from ordinaut.services.context import ServiceContext
from ordinaut.services.events import publish_event


def extension_tool(spec: ExtensionTool) -> Tool:
    """An extension's tool as the pipeline engine sees it (an in-process transport)."""

    async def handler(args: dict[str, Any], ctx: ToolCallContext) -> Any:
        try:
            return await spec(args)
        except ToolError:
            raise
        except Exception as exc:  # an extension's bug is a failed step, not a crashed worker
            raise ToolError(f"{spec.name}: {exc}", retryable=True) from exc

    return Tool(
        name=spec.name,
        description=spec.description,
        input_schema=spec.input_schema,
        output_schema=spec.output_schema,
        timeout_seconds=spec.timeout_seconds,
        scopes=tuple(spec.scopes),
        transport="builtin",
        handler=handler,
    )


async def build_tools(
    ctx: ServiceContext, extension_tools: Iterable[ExtensionTool] = ()
) -> ToolRegistry:
    """Every tool this process offers pipelines; `events.publish` publishes through `ctx`."""

    async def publish(topic: str, payload: Any) -> str:
        published = await publish_event(
            ctx, topic=topic, payload=payload, agent_id=None, source="pipeline"
        )
        return published.event_id

    registry = await build_registry(ctx.settings, publish_event=publish)
    for spec in extension_tools:
        registry.register(extension_tool(spec))
    return registry
