"""Tools and the registry that names them: the seam between pipelines and the outside world.

A `Tool` is a value (name, schemas, timeout, scopes) plus a handler that does the work; the
handler is the transport (built-in Python, HTTP endpoint, MCP server). Tools of MCP servers
that could not be reached are discovered later, when `refresh` is awaited.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from ordinaut.core.errors import ConfigurationError, NotFound
from ordinaut.core.states import Scope
from ordinaut.pipeline.schema_checks import Check, compile_check

logger = logging.getLogger(__name__)

TOOL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_.\-/]*$")
Transport = Literal["builtin", "http", "mcp"]
PublishEvent = Callable[[str, Any], Awaitable[str]]
REFRESH_INTERVAL = timedelta(seconds=30)
_MAX_SCHEMA_ERRORS = 5
DERIVED_CACHE_SIZE = 256
T = TypeVar("T")


class ToolError(Exception):
    """A tool call that failed; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True)
class ToolCallContext:
    """What a handler may know about the call beyond its arguments."""

    task: Mapping[str, Any]
    run: Mapping[str, Any]
    step_id: str
    timeout_seconds: float


class ToolHandler(Protocol):
    async def __call__(self, args: dict[str, Any], ctx: ToolCallContext) -> Any: ...


@dataclass(frozen=True)
class Tool:
    """One callable tool. Schemas are JSON Schema (draft 2020-12 unless `$schema` says else)."""

    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    timeout_seconds: float
    scopes: tuple[str, ...]
    transport: Transport
    handler: ToolHandler = field(repr=False, compare=False)
    _input: Validator = field(init=False, repr=False, compare=False)
    _output: Validator = field(init=False, repr=False, compare=False)
    _input_ok: Check | None = field(init=False, repr=False, compare=False)
    _output_ok: Check | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not TOOL_NAME.match(self.name):
            raise ConfigurationError(f"tool name {self.name!r} is not 'namespace.tool'")
        object.__setattr__(self, "_input", _validator(self.name, self.input_schema))
        object.__setattr__(self, "_output", _validator(self.name, self.output_schema))
        object.__setattr__(self, "_input_ok", compile_check(self.input_schema))
        object.__setattr__(self, "_output_ok", compile_check(self.output_schema))

    async def call(self, args: dict[str, Any], ctx: ToolCallContext) -> Any:
        return await self.handler(args, ctx)

    def input_problems(self, value: Any) -> list[str]:
        if self._input_ok is not None and self._input_ok(value):
            return []
        return _problems(self._input, value)

    def output_problems(self, value: Any) -> list[str]:
        if self._output_ok is not None and self._output_ok(value):
            return []
        return _problems(self._output, value)

    def input_errors(self, value: Any) -> Iterator[ValidationError]:
        """Every input schema violation, for callers that filter them (pre-render checks)."""
        return self._input.iter_errors(value)

    @property
    def namespace(self) -> str:
        return self.name.split(".", 1)[0]


def _validator(name: str, schema: dict[str, Any]) -> Validator:
    cls = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise ConfigurationError(f"tool {name}: invalid JSON Schema: {exc.message}") from exc
    return cls(schema)


def _problems(validator: Validator, value: Any) -> list[str]:
    """Schema violations, each naming the value's path and the schema rule that failed."""
    if validator.is_valid(value):
        return []
    errors = sorted(validator.iter_errors(value), key=lambda error: list(error.absolute_path))
    return [_describe(error) for error in errors[:_MAX_SCHEMA_ERRORS]]


def _describe(error: ValidationError) -> str:
    where = "/".join(str(part) for part in error.absolute_path) or "(root)"
    rule = "/".join(str(part) for part in error.absolute_schema_path)
    return f"at {where}: {error.message} (schema: {rule})"


class PendingSource(Protocol):
    """Tools that could not be discovered yet (an MCP server that was down at startup)."""

    @property
    def namespace(self) -> str: ...

    async def discover(self) -> list[Tool]: ...


class ToolRegistry:
    """Every tool by name, plus sources whose tools will be discovered on a later `refresh`."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self._pending: dict[str, PendingSource] = {}
        self._next_attempt: dict[str, datetime] = {}
        self._derived: OrderedDict[Hashable, Any] = OrderedDict()

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ConfigurationError(f"tool {tool.name} is declared twice")
        self._tools[tool.name] = tool
        self._derived.clear()

    def derived(self, key: Hashable, build: Callable[[], T]) -> T:
        """Memoise a value computed from the current tools (a checked pipeline, say); the
        memo is emptied whenever the tools change. Errors raised by `build` are not kept."""
        if key in self._derived:
            self._derived.move_to_end(key)
            return cast(T, self._derived[key])
        value = build()
        self._derived[key] = value
        if len(self._derived) > DERIVED_CACHE_SIZE:
            self._derived.popitem(last=False)
        return value

    def find(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def get(self, name: str) -> Tool:
        """The tool called `name`; NotFound (with close names in the message) otherwise."""
        tool = self._tools.get(name)
        if tool is None:
            raise NotFound(self.unknown_message(name))
        return tool

    def unknown_message(self, name: str) -> str:
        namespace = name.split(".", 1)[0]
        if namespace in self._pending:
            return f"unknown tool {name!r}: MCP server {namespace!r} has not been reached yet"
        close = difflib.get_close_matches(name, self._tools, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return f"unknown tool {name!r}{hint}"

    def names(self) -> list[str]:
        return sorted(self._tools)

    def visible_to(self, scopes: Collection[str]) -> list[Tool]:
        return [self._tools[name] for name in self.names() if allowed(self._tools[name], scopes)]

    def describe(self, tool: Tool) -> dict[str, Any]:
        return {
            "name": tool.name,
            "description": tool.description,
            "input_schema": tool.input_schema,
            "output_schema": tool.output_schema,
            "timeout_seconds": tool.timeout_seconds,
            "scopes": list(tool.scopes),
            "transport": tool.transport,
        }

    def add_pending(self, source: PendingSource) -> None:
        self._pending[source.namespace] = source

    def pending_namespaces(self) -> list[str]:
        return sorted(self._pending)

    async def refresh(self, now: datetime) -> None:
        """Try again to discover pending sources, each at most once per REFRESH_INTERVAL."""
        for namespace, source in list(self._pending.items()):
            if self._next_attempt.get(namespace, now) > now:
                continue
            self._next_attempt[namespace] = now + REFRESH_INTERVAL
            try:
                tools = await source.discover()
            except ToolError as exc:
                logger.warning("tool source %s still unreachable: %s", namespace, exc.message)
                continue
            for tool in tools:
                self._tools.setdefault(tool.name, tool)
            self._derived.clear()
            del self._pending[namespace]
            logger.info("discovered %d tools of %s", len(tools), namespace)


def allowed(tool: Tool, scopes: Collection[str]) -> bool:
    """An owner may use a tool when it holds every scope the tool needs; admin holds all."""
    return Scope.ADMIN in scopes or all(scope in scopes for scope in tool.scopes)
