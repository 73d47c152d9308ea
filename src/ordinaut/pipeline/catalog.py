"""The tools catalog file (TOOLS_CATALOG, JSON or YAML) and building the registry from it.

Header values may say `${env:NAME}` to take a secret from the environment, so the file itself
can be committed without credentials.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from ordinaut.core.errors import ConfigurationError
from ordinaut.core.settings import Settings
from ordinaut.pipeline.builtin_tools import builtin_tools
from ordinaut.pipeline.egress import EgressPolicy
from ordinaut.pipeline.http_tools import HttpEndpoint, HttpSender, http_request_tool
from ordinaut.pipeline.registry import PublishEvent, Tool, ToolError, ToolRegistry

if TYPE_CHECKING:
    from ordinaut.pipeline.mcp_tools import McpConnector

logger = logging.getLogger(__name__)
_ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_NAMESPACE = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"


class HttpToolSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_.\-/]*$")
    description: str = ""
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: str = Field(pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://")
    headers: dict[str, str] = Field(default_factory=dict)
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    output_schema: dict[str, Any] = Field(default_factory=dict)
    timeout_seconds: float = Field(30.0, gt=0, le=3600)
    scopes: list[str] = Field(default_factory=list)


class McpServerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAMESPACE)
    url: str = Field(pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(
        30.0, gt=0, le=3600, validation_alias=AliasChoices("timeout_seconds", "timeout")
    )
    scopes: list[str] = Field(default_factory=list)


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    http_tools: list[HttpToolSpec] = Field(default_factory=list)
    mcp_servers: list[McpServerSpec] = Field(default_factory=list)


def load_catalog(path: Path, environ: Mapping[str, str] | None = None) -> Catalog:
    """Read and check the catalog; ConfigurationError names the file and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        catalog = Catalog.model_validate(raw or {})
    except (OSError, ValueError, yaml.YAMLError) as exc:
        detail = exc.errors() if isinstance(exc, ValidationError) else exc
        raise ConfigurationError(f"tools catalog {path}: {detail}") from exc
    env = os.environ if environ is None else environ
    for tool in catalog.http_tools:
        tool.headers = _expand_headers(tool.headers, env, path)
    for server in catalog.mcp_servers:
        server.headers = _expand_headers(server.headers, env, path)
    return catalog


def _expand_headers(headers: dict[str, str], env: Mapping[str, str], path: Path) -> dict[str, str]:
    return {key: _expand_env(value, env, path) for key, value in headers.items()}


def _expand_env(value: str, env: Mapping[str, str], path: Path) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigurationError(f"tools catalog {path}: environment variable {name} is unset")
        return env[name]

    return _ENV_REFERENCE.sub(replace, value)


async def build_registry(
    settings: Settings, *, publish_event: PublishEvent | None = None
) -> ToolRegistry:
    """Built-in tools, then the catalog's HTTP tools and MCP servers' discovered tools.

    An MCP server that cannot be reached is logged and left pending: `ToolRegistry.refresh`
    tries it again later, so a server that starts after Ordinaut is picked up.
    """
    registry = ToolRegistry()
    sender = HttpSender(EgressPolicy.from_settings(settings))
    for tool in [*builtin_tools(publish_event), http_request_tool(sender)]:
        registry.register(tool)
    if settings.tools_catalog is None:
        return registry
    catalog = load_catalog(settings.tools_catalog)
    for spec in catalog.http_tools:
        registry.register(_http_tool(spec, sender))
    if catalog.mcp_servers:
        await _add_mcp_tools(registry, catalog.mcp_servers, sender)
    return registry


async def _add_mcp_tools(
    registry: ToolRegistry, specs: list[McpServerSpec], sender: HttpSender
) -> None:
    """Discover every server at once; the MCP SDK (slow to import) is loaded only when needed."""
    from ordinaut.pipeline.mcp_tools import McpConnector, McpServer

    connectors = [
        McpConnector(
            McpServer(spec.name, spec.url, spec.headers, spec.timeout_seconds, tuple(spec.scopes)),
            sender.tls_context,
        )
        for spec in specs
    ]
    found = await asyncio.gather(*(_discover(connector) for connector in connectors))
    for connector, tools in zip(connectors, found, strict=True):
        if tools is None:
            registry.add_pending(connector)
            continue
        for tool in tools:
            if registry.find(tool.name) is not None:
                logger.warning("MCP tool %s skipped: a tool of that name exists", tool.name)
                continue
            registry.register(tool)


async def _discover(connector: McpConnector) -> list[Tool] | None:
    try:
        return await connector.discover()
    except ToolError as exc:
        logger.warning(
            "MCP server %s unreachable, will retry: %s", connector.namespace, exc.message
        )
        return None


def _http_tool(spec: HttpToolSpec, sender: HttpSender) -> Tool:
    return Tool(
        spec.name,
        spec.description,
        spec.input_schema,
        spec.output_schema,
        spec.timeout_seconds,
        tuple(spec.scopes),
        "http",
        HttpEndpoint(sender, spec.method, spec.url, spec.headers),
    )
