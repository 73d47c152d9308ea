"""Serves the MCP server at `/ext/mcp_http/mcp` (Streamable HTTP, stateless, JSON responses).

The API's gateway authenticates every request before it gets here (a bearer agent secret or
JWT with the scope `ext:mcp_http:routes`), so the server trusts the agent the gateway found,
and each tool checks the scope its REST twin needs. Stateless: any API process can answer any
request, so no session affinity is needed behind a load balancer.
"""

from __future__ import annotations

import asyncio

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ordinaut import __version__
from ordinaut.extensions.mcp_http.tools import register_tools
from ordinaut.plugins import Capability, ExtensionContext
from ordinaut.services.context import ServiceContext

requires = [Capability.ROUTES, Capability.BACKGROUND_TASKS]
INSTRUCTIONS = (
    "Ordinaut schedules work for you: create a task with a schedule (cron, RFC 5545 rrule, "
    "a one-shot time, or an event topic) and a pipeline of tool steps; preview a schedule "
    "before saving it; run, pause, resume or cancel tasks; read each run's step outputs."
)


def setup(ctx: ExtensionContext) -> None:
    services = ctx.services["context"]
    if not isinstance(services, ServiceContext):
        raise TypeError("the host shares no service context")
    # log_level only matters where nothing configured logging yet (the SDK calls basicConfig)
    server = MCPServer(
        "ordinaut", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    register_tools(server, services)
    # the gateway has already authenticated the caller; Host checks are for servers that
    # trust whoever can reach them
    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    running = asyncio.Event()

    async def sessions() -> None:
        async with server.session_manager.run():
            running.set()
            await asyncio.Event().wait()  # until the extension shuts down

    ctx.background.run("sessions", sessions)
    # an ASGI endpoint (not a request handler): Starlette hands it the raw request
    ctx.routes.routes.append(Route("/mcp", _WhenRunning(app, running), include_in_schema=False))


class _WhenRunning:
    """Holds requests until the session manager's task group is up (the first request to a
    lazy extension can arrive before the background job has started it)."""

    def __init__(self, app: ASGIApp, running: asyncio.Event) -> None:
        self.app, self.running = app, running

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.wait_for(self.running.wait(), timeout=10)
        await self.app(scope, receive, send)
