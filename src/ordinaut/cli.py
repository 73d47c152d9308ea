"""The `ordinaut` command: run the embedded default or each production process."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from pydantic import ValidationError

from ordinaut import __version__
from ordinaut.core.clock import SystemClock
from ordinaut.core.errors import OrdinautError
from ordinaut.core.logs import configure_logging
from ordinaut.core.settings import Settings
from ordinaut.services.agents import ALL_SCOPES, bootstrap_admin, create_agent
from ordinaut.services.secrets import new_secret
from ordinaut.store import migrate as migrations
from ordinaut.store.engine import Store

app = typer.Typer(
    name="ordinaut",
    no_args_is_help=True,
    add_completion=False,
    help="Ordinaut: a durable task scheduler for AI agents.",
)
agent_app = typer.Typer(no_args_is_help=True, help="Manage agents (API credentials).")
app.add_typer(agent_app, name="agent")

T = TypeVar("T")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = first.get("loc", ("setting",))[0]
        raise _fail(f"{name}: {first.get('msg')}") from None
    configure_logging(settings)
    return settings


def _run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine, turning our errors into one-line messages instead of tracebacks."""
    try:
        return asyncio.run(factory())
    except OrdinautError as exc:
        raise _fail(exc.message) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _migrate(settings: Settings) -> list[str]:
    try:
        return migrations.upgrade(settings.database_url)
    except OrdinautError as exc:
        raise _fail(exc.message) from None


async def _bootstrap(settings: Settings, store: Store) -> None:
    issued = await bootstrap_admin(store, SystemClock(), settings.admin_secret)
    if issued is None:
        return
    if settings.admin_secret:
        typer.echo("Created the admin agent with the secret from ORDINAUT_ADMIN_SECRET.")
        return
    typer.echo(
        "Created the admin agent. Its secret is shown only this once; keep it:\n\n"
        f"    ORDINAUT_TOKEN={issued.secret}\n\n"
        f"Use it as `Authorization: Bearer <secret>` (agent id {issued.agent.id})."
    )
    sys.stdout.flush()


def _serve(settings: Settings, store: Store, embedded: bool) -> None:
    from ordinaut.runtime import build_app  # deferred: pulls in every subsystem

    try:
        api = build_app(settings, store, embedded=embedded)
    except OrdinautError as exc:
        raise _fail(exc.message) from None
    config = uvicorn.Config(
        api,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        server_header=False,
    )
    server = uvicorn.Server(config)
    typer.echo(
        f"Ordinaut {__version__} listening on http://{settings.host}:{settings.port} "
        f"(docs at /docs, web UI at /ext/webui/, database {store.dialect})"
    )
    sys.stdout.flush()
    _run(server.serve)


@app.command()
def up() -> None:
    """Migrate, create the first admin, and run API + scheduler + worker in one process."""
    settings = _settings()
    _migrate(settings)
    store = Store(settings.database_url)
    _run(lambda: _bootstrap(settings, store))
    _serve(settings, store, embedded=True)


@app.command()
def api() -> None:
    """Run the API alone (production: scheduler and workers run as their own processes)."""
    settings = _settings()
    _migrate_check(settings)
    _serve(settings, Store(settings.database_url), embedded=False)


@app.command()
def scheduler() -> None:
    """Run a scheduler: turns due tasks into queued occurrences (any number may run)."""
    from ordinaut.scheduling.main import run_scheduler

    settings = _settings()
    _migrate_check(settings)
    _guard(lambda: run_scheduler(settings))


@app.command()
def worker() -> None:
    """Run a worker: claims queued occurrences and runs their pipelines."""
    from ordinaut.runtime import run_worker_process

    settings = _settings()
    _migrate_check(settings)
    _guard(lambda: run_worker_process(settings))


def _migrate_check(settings: Settings) -> None:
    """Fail early, in one line, when the database is unreachable."""
    store = Store(settings.database_url)

    async def ping() -> None:
        try:
            await store.ping()
        finally:
            await store.dispose()

    _run(ping)


def _guard(body: Callable[[], None]) -> None:
    try:
        body()
    except OrdinautError as exc:
        raise _fail(exc.message) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@app.command()
def migrate() -> None:
    """Apply database migrations (safe to repeat)."""
    applied = _migrate(_settings())
    typer.echo(f"applied {', '.join(applied)}" if applied else "database is up to date")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@agent_app.command("create")
def agent_create(
    name: str,
    scope: Annotated[list[str] | None, typer.Option("--scope", "-s", help="repeatable")] = None,
) -> None:
    """Create an agent and print its secret (shown once)."""
    settings = _settings()
    store = Store(settings.database_url)

    async def create() -> str:
        try:
            async with store.transaction() as conn:
                issued = await create_agent(
                    conn,
                    name=name,
                    scopes=scope or ["tasks:read", "tasks:write", "runs:read"],
                    clock=SystemClock(),
                )
            return f"agent_id={issued.agent.id}\nagent_secret={issued.secret}"
        finally:
            await store.dispose()

    typer.echo(_run(create))


@agent_app.command("secret")
def agent_secret() -> None:
    """Print a fresh well-formed secret (for ORDINAUT_ADMIN_SECRET)."""
    typer.echo(new_secret()[1])


@agent_app.command("scopes")
def agent_scopes() -> None:
    """List the scopes an agent can hold."""
    typer.echo("\n".join(ALL_SCOPES))


def main() -> None:
    app()
