"""`ExtensionContext`: everything an extension's `setup(ctx)` may touch, capability-checked.

Each facility is reached through a property that checks the capability first, so an
extension that reaches for something it was not granted fails at that line with a
`CapabilityDenied` naming the capability and the missing side (request or grant).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from structlog.typing import FilteringBoundLogger

from ordinaut.core.errors import InvalidInput, NotFound
from ordinaut.core.settings import Settings
from ordinaut.events.bus import BusMessage, EventBus
from ordinaut.plugins.capabilities import Capability, CapabilitySet
from ordinaut.plugins.supervisor import BackgroundSupervisor

ToolHandler = Callable[[dict[str, Any]], Awaitable[Any] | Any]
_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
ANY_OBJECT: dict[str, Any] = {"type": "object"}


@dataclass(frozen=True)
class ExtensionTool:
    """A tool an extension offers to pipelines (`ext.<id>.<name>`); calling it runs the handler.

    Shaped like the pipeline's tool record so the registry can adopt it as is.
    """

    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    handler: ToolHandler
    timeout_seconds: float = 30.0
    scopes: tuple[str, ...] = ()

    async def __call__(self, arguments: dict[str, Any]) -> Any:
        result = self.handler(arguments)
        return await result if inspect.isawaitable(result) else result


@dataclass
class ToolRegistrar:
    """Collects the tools of one extension; names are forced into `ext.<id>.`."""

    ext_id: str
    tools: list[ExtensionTool] = field(default_factory=list)

    def register(
        self,
        name: str,
        handler: ToolHandler,
        *,
        description: str,
        input_schema: dict[str, Any] | None = None,
        output_schema: dict[str, Any] | None = None,
        timeout_seconds: float = 30.0,
        scopes: tuple[str, ...] = (),
    ) -> ExtensionTool:
        """Register `name` (short, `greet`, or full, `ext.<id>.greet`); schemas are checked now."""
        full = self._full_name(name)
        if any(tool.name == full for tool in self.tools):
            raise InvalidInput.at(("tools", full), f"tool {full!r} is already registered")
        schemas = {"input_schema": input_schema, "output_schema": output_schema}
        for key, schema in schemas.items():
            try:
                Draft202012Validator.check_schema(schema or ANY_OBJECT)
            except SchemaError as exc:
                msg = f"invalid JSON Schema: {exc.message}"
                raise InvalidInput.at(("tools", full, key), msg) from None
        tool = ExtensionTool(
            full,
            description,
            input_schema or ANY_OBJECT,
            output_schema or ANY_OBJECT,
            handler,
            timeout_seconds,
            scopes,
        )
        self.tools.append(tool)
        return tool

    def _full_name(self, name: str) -> str:
        prefix = f"ext.{self.ext_id}."
        short = name.removeprefix(prefix)
        if not _TOOL_NAME.match(short):
            raise InvalidInput.at(
                ("tools", name), f"tool name {name!r} must be {prefix}<name> with <name> [a-z0-9_]"
            )
        return prefix + short


class ExtensionEvents:
    """Publish and read the extension's streams, named `ext:<id>:<ns>:<name>`.

    Consumer groups are namespaced as `ext:<id>:<group>` so extensions never share a group.
    Reading another extension's stream is allowed with `owner=`; writing is not.
    """

    def __init__(
        self, capabilities: CapabilitySet, bus: EventBus, *, maxlen: int | None = 10_000
    ) -> None:
        self._caps = capabilities
        self._bus = bus
        self._maxlen = maxlen

    def stream(self, ns: str, name: str, *, owner: str | None = None) -> str:
        for part in (ns, name):
            if not _SEGMENT.match(part):
                raise InvalidInput.at(("stream",), f"stream part {part!r} must be [A-Za-z0-9_.-]")
        return f"ext:{owner or self._caps.ext_id}:{ns}:{name}"

    def _group(self, group: str) -> str:
        return f"ext:{self._caps.ext_id}:{group}"

    async def publish(self, ns: str, name: str, type: str, data: dict[str, Any]) -> str:
        self._caps.require(Capability.EVENTS_PUB)
        return await self._bus.publish(self.stream(ns, name), type, data, maxlen=self._maxlen)

    def subscribe(
        self, ns: str, name: str, *, owner: str | None = None, last_id: str = "$"
    ) -> AsyncIterator[BusMessage]:
        """Tail a stream; the capability is checked here, before iteration starts."""
        self._caps.require(Capability.EVENTS_SUB)
        return self._bus.subscribe(self.stream(ns, name, owner=owner), last_id=last_id)

    async def ensure_group(
        self, ns: str, name: str, group: str, *, owner: str | None = None, start: str = "$"
    ) -> None:
        self._caps.require(Capability.EVENTS_SUB)
        await self._bus.ensure_group(self.stream(ns, name, owner=owner), self._group(group), start)

    async def read_group(
        self,
        ns: str,
        name: str,
        group: str,
        consumer: str,
        *,
        owner: str | None = None,
        count: int = 100,
        block_ms: int = 1000,
    ) -> list[BusMessage]:
        self._caps.require(Capability.EVENTS_SUB)
        stream = self.stream(ns, name, owner=owner)
        return await self._bus.read_group(
            stream, self._group(group), consumer, count=count, block_ms=block_ms
        )

    async def ack(self, ns: str, name: str, group: str, *ids: str, owner: str | None = None) -> int:
        self._caps.require(Capability.EVENTS_SUB)
        return await self._bus.ack(self.stream(ns, name, owner=owner), self._group(group), *ids)


class ExtensionContext:
    """Handed to `setup(ctx)`; the manager reads back the router, tools and supervisor."""

    def __init__(
        self,
        capabilities: CapabilitySet,
        *,
        bus: EventBus,
        settings: Settings,
        logger: FilteringBoundLogger,
        supervisor: BackgroundSupervisor,
        services: Mapping[str, object] | None = None,
    ) -> None:
        self.id = capabilities.ext_id
        self.capabilities = capabilities
        self.settings = settings
        self.logger = logger
        self.services: Mapping[str, object] = dict(services or {})
        # Unchecked: the manager serves it (empty unless ROUTES or STATIC). No slash redirects:
        # the gateway strips trailing slashes, so routes are declared without one.
        self.router = APIRouter(redirect_slashes=False)
        self.registrar = ToolRegistrar(self.id)
        self.supervisor = supervisor
        self._events = ExtensionEvents(capabilities, bus)

    @property
    def routes(self) -> APIRouter:
        """The router served at `/ext/<id>/` (ROUTES)."""
        self.capabilities.require(Capability.ROUTES)
        return self.router

    @property
    def tools(self) -> ToolRegistrar:
        """Registrar for `ext.<id>.*` tools (TOOLS)."""
        self.capabilities.require(Capability.TOOLS)
        return self.registrar

    @property
    def events(self) -> ExtensionEvents:
        """Streams `ext:<id>:<ns>:<name>` (EVENTS_PUB to publish, EVENTS_SUB to read)."""
        self.capabilities.require_any(Capability.EVENTS_PUB, Capability.EVENTS_SUB)
        return self._events

    @property
    def background(self) -> BackgroundSupervisor:
        """Periodic and long-running supervised coroutines (BACKGROUND_TASKS)."""
        self.capabilities.require(Capability.BACKGROUND_TASKS)
        return self.supervisor

    def static(self, directory: Path, path: str = "/static") -> None:
        """Serve files under `directory` at `/ext/<id><path>/...` (STATIC)."""
        self.capabilities.require(Capability.STATIC)
        root = directory.resolve()
        if not root.is_dir():
            raise InvalidInput.at(("static",), f"static directory {directory} does not exist")

        async def serve(file_path: str) -> FileResponse:
            target = (root / file_path).resolve()
            if not target.is_relative_to(root) or not target.is_file():
                raise NotFound(f"no static file {file_path!r}")
            return FileResponse(target)

        self.router.add_api_route(
            f"{path.rstrip('/')}/{{file_path:path}}",
            serve,
            methods=["GET"],
            include_in_schema=False,
        )
