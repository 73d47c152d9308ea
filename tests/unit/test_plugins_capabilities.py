"""Deny by default: an extension gets only what it requests AND is granted."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import structlog

from ordinaut.core.errors import InvalidInput
from ordinaut.core.settings import Settings
from ordinaut.events import InMemoryBus
from ordinaut.plugins import (
    BackgroundSupervisor,
    Capability,
    CapabilityDenied,
    CapabilitySet,
    ExtensionContext,
    parse_grants,
)
from ordinaut.plugins.capabilities import requested_capabilities

ALL = frozenset(Capability)


def make_context(
    requested: frozenset[Capability], granted: frozenset[Capability], bus: InMemoryBus | None = None
) -> ExtensionContext:
    caps = CapabilitySet("demo", requested, granted)
    log = structlog.get_logger("test")
    return ExtensionContext(
        caps,
        bus=bus or InMemoryBus(),
        settings=Settings(),
        logger=log,
        supervisor=BackgroundSupervisor("demo", log),
    )


def test_effective_is_the_intersection() -> None:
    caps = CapabilitySet(
        "x",
        frozenset({Capability.ROUTES, Capability.TOOLS}),
        frozenset({Capability.TOOLS, Capability.STATIC}),
    )

    assert caps.effective == {Capability.TOOLS}
    assert caps.denied == {Capability.ROUTES}


def test_denial_explains_the_missing_side() -> None:
    caps = CapabilitySet("x", frozenset({Capability.ROUTES}), frozenset({Capability.TOOLS}))

    with pytest.raises(
        CapabilityDenied, match="may not use ROUTES: its manifest's `grants` does not grant it"
    ):
        caps.require(Capability.ROUTES)
    with pytest.raises(CapabilityDenied, match="does not request it") as caught:
        caps.require(Capability.TOOLS)
    assert caught.value.code == "capability_denied"
    assert caught.value.status == 403


@pytest.mark.parametrize(
    ("facility", "capability"),
    [
        pytest.param(lambda ctx: ctx.routes, Capability.ROUTES, id="routes"),
        pytest.param(lambda ctx: ctx.tools, Capability.TOOLS, id="tools"),
        pytest.param(lambda ctx: ctx.events, Capability.EVENTS_PUB, id="events"),
        pytest.param(lambda ctx: ctx.background, Capability.BACKGROUND_TASKS, id="background"),
        pytest.param(lambda ctx: ctx.static(Path(".")), Capability.STATIC, id="static"),
    ],
)
def test_each_facility_is_denied_unless_requested_and_granted(
    facility: Any, capability: Capability
) -> None:
    for requested, granted in [(ALL, frozenset()), (frozenset(), ALL)]:
        with pytest.raises(CapabilityDenied, match=capability.value):
            facility(make_context(requested, granted))
    facility(make_context(frozenset({capability}), frozenset({capability})))


async def test_events_publish_and_subscribe_are_checked_separately() -> None:
    bus = InMemoryBus()
    publisher = make_context(frozenset({Capability.EVENTS_PUB}), ALL, bus)
    reader = make_context(frozenset({Capability.EVENTS_SUB}), ALL, bus)

    entry_id = await publisher.events.publish("orders", "seen", "order.seen", {"n": 1})
    assert [m.id for m in await bus.recent("ext:demo:orders:seen")] == [entry_id]
    with pytest.raises(CapabilityDenied, match="EVENTS_SUB"):
        publisher.events.subscribe("orders", "seen")
    with pytest.raises(CapabilityDenied, match="EVENTS_PUB"):
        await reader.events.publish("orders", "seen", "t", {})

    await reader.events.ensure_group("orders", "seen", "workers", start="0")
    (message,) = await reader.events.read_group("orders", "seen", "workers", "c1", block_ms=0)
    assert message.data == {"n": 1}
    assert await reader.events.ack("orders", "seen", "workers", message.id) == 1
    assert await bus.read_group("ext:demo:orders:seen", "ext:demo:workers", "c", block_ms=0) == []


def test_stream_names_are_namespaced_and_checked() -> None:
    events = make_context(ALL, ALL).events

    assert events.stream("orders", "seen") == "ext:demo:orders:seen"
    assert events.stream("orders", "seen", owner="other") == "ext:other:orders:seen"
    with pytest.raises(InvalidInput):
        events.stream("a:b", "c")


async def test_tools_are_named_under_the_extension_and_callable() -> None:
    tools = make_context(ALL, ALL).tools

    sync_tool = tools.register("double", lambda args: {"v": args["v"] * 2}, description="x2")
    async_tool = tools.register("ext.demo.echo", _echo, description="echo")
    assert [t.name for t in tools.tools] == ["ext.demo.double", "ext.demo.echo"]
    assert await sync_tool({"v": 4}) == {"v": 8}
    assert await async_tool({"a": 1}) == {"a": 1}
    assert sync_tool.input_schema == {"type": "object"}


async def _echo(arguments: dict[str, Any]) -> dict[str, Any]:
    return arguments


@pytest.mark.parametrize(
    ("name", "schema", "fragment"),
    [
        pytest.param("Bad-Name", None, "must be ext.demo.<name>", id="bad_name"),
        pytest.param("ext.other.x", None, "must be ext.demo.<name>", id="foreign_prefix"),
        pytest.param("ok", {"type": "nonsense"}, "invalid JSON Schema", id="bad_schema"),
        pytest.param("dup", None, "already registered", id="duplicate"),
    ],
)
def test_tool_registration_refuses_bad_input(
    name: str, schema: dict[str, Any] | None, fragment: str
) -> None:
    tools = make_context(ALL, ALL).tools
    tools.register("dup", _echo, description="first")

    with pytest.raises(InvalidInput, match=fragment):
        tools.register(name, _echo, description="d", input_schema=schema)


def test_requested_capabilities_from_the_module() -> None:
    assert requested_capabilities(SimpleNamespace(requires=["routes", Capability.TOOLS])) == {
        Capability.ROUTES,
        Capability.TOOLS,
    }
    assert requested_capabilities(SimpleNamespace(capabilities="STATIC")) == {Capability.STATIC}
    assert requested_capabilities(SimpleNamespace()) == frozenset()
    with pytest.raises(InvalidInput, match="unknown capability 'TELEPORT'"):
        requested_capabilities(SimpleNamespace(requires=["TELEPORT"]))


def test_parse_grants_for_entry_point_plugins() -> None:
    assert parse_grants("a=ROUTES+tools; b = EVENTS_PUB,EVENTS_SUB ;") == {
        "a": {Capability.ROUTES, Capability.TOOLS},
        "b": {Capability.EVENTS_PUB, Capability.EVENTS_SUB},
    }
    assert parse_grants("") == {}
    with pytest.raises(InvalidInput):
        parse_grants("ROUTES")
    with pytest.raises(InvalidInput):
        parse_grants("a=FLY")
