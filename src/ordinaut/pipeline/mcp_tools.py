"""MCP tools: servers from the catalog, reached over Streamable HTTP with the official SDK.

Each server's tools are discovered with `tools/list` and registered as `<server>.<tool>`; a
call opens a session, sends `tools/call` and closes it, so no connection outlives a step and
a restarted server needs nothing from us. Connection failures and results flagged `isError`
become retryable step errors.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent
from mcp_types import Tool as McpTool

from ordinaut.pipeline.registry import Tool, ToolCallContext, ToolError

logger = logging.getLogger(__name__)
MAX_LIST_PAGES = 50


@dataclass(frozen=True)
class McpServer:
    """One catalog entry: `url` is the Streamable HTTP endpoint (often ending in `/mcp`)."""

    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = 30.0
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class McpConnector:
    """Opens sessions to one server; also the registry's pending source until discovery works."""

    server: McpServer
    tls_context: Callable[[], ssl.SSLContext] = field(repr=False)

    @property
    def namespace(self) -> str:
        return self.server.name

    @asynccontextmanager
    async def _session(self, timeout: float) -> AsyncIterator[Client]:
        async with httpx2.AsyncClient(
            headers=self.server.headers,
            timeout=httpx2.Timeout(timeout),
            verify=self.tls_context(),
        ) as http:
            transport = streamable_http_client(self.server.url, http_client=http)
            async with Client(transport, read_timeout_seconds=timeout, cache=None) as client:
                yield client

    async def discover(self) -> list[Tool]:
        """Every tool of the server (following pagination); ToolError when it cannot be reached."""
        listed: list[McpTool] = []
        try:
            async with self._session(self.server.timeout_seconds) as client:
                cursor: str | None = None
                for _ in range(MAX_LIST_PAGES):
                    page = await client.list_tools(cursor=cursor)
                    listed.extend(page.tools)
                    cursor = page.next_cursor
                    if cursor is None:
                        break
        except Exception as exc:  # the SDK raises groups and transport errors alike
            raise ToolError(
                f"MCP server {self.server.name!r}: {_reason(exc)}", retryable=True
            ) from exc
        return [tool for tool in (self._as_tool(item) for item in listed) if tool is not None]

    def _as_tool(self, listed: McpTool) -> Tool | None:
        name = f"{self.server.name}.{listed.name}"
        try:
            return Tool(
                name,
                listed.description or listed.title or "",
                dict(listed.input_schema),
                dict(listed.output_schema or {}),
                self.server.timeout_seconds,
                self.server.scopes,
                "mcp",
                McpToolHandler(self, listed.name),
            )
        except Exception as exc:  # a bad schema or name loses one tool, not the server
            logger.warning("skipping MCP tool %s: %s", name, exc)
            return None

    async def call(self, tool_name: str, args: dict[str, Any], timeout: float) -> Any:
        try:
            async with self._session(timeout) as client:
                result = await client.call_tool(tool_name, args, read_timeout_seconds=timeout)
        except Exception as exc:
            message = f"MCP call {self.server.name}.{tool_name} failed: {_reason(exc)}"
            raise ToolError(message, retryable=True) from exc
        if result.is_error:
            message = f"MCP tool {self.server.name}.{tool_name} reported an error: {_text(result)}"
            raise ToolError(message, retryable=True)
        return tool_output(result)


@dataclass(frozen=True)
class McpToolHandler:
    connector: McpConnector
    tool_name: str

    async def __call__(self, args: dict[str, Any], ctx: ToolCallContext) -> Any:
        return await self.connector.call(self.tool_name, args, ctx.timeout_seconds)


def tool_output(result: CallToolResult) -> Any:
    """The structured content when the tool gives one; otherwise a single text block holding a
    JSON object is that object, and anything else is `{"text": all text blocks joined}`."""
    if result.structured_content is not None:
        return result.structured_content
    text = _text(result)
    texts = [block for block in result.content if isinstance(block, TextContent)]
    if len(texts) == 1 and len(result.content) == 1:
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
    return {"text": text}


def _text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def _reason(exc: BaseException) -> str:
    """The innermost useful message: SDK errors often arrive wrapped in exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"
