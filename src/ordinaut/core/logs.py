"""Structured logs: JSON lines in production or when piped, readable lines in a terminal.

Our modules log through structlog, some through the stdlib `logging` module, and so do the
libraries (uvicorn, httpx, mcp): every record goes through one formatter, so a process writes
one consistent stream. Context bound with `structlog.contextvars` (request_id, task_id, run_id,
worker_id) appears on every line written while it is bound.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from ordinaut.core.settings import Settings

QUIET_LIBRARIES = (
    "uvicorn.access",
    "httpx",
    "httpcore",
    "mcp",
    "aiosqlite",
    "asyncio",
    "alembic",
)


def _drop_color_message(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event.pop("color_message", None)  # uvicorn's copy of the message with terminal colours
    return event


def _renderer(settings: Settings) -> Any:
    as_json = settings.log_format == "json" or (
        settings.log_format == "auto" and (settings.is_production or not sys.stderr.isatty())
    )
    if as_json:
        return structlog.processors.JSONRenderer()
    # plain tracebacks: rich ones print local variables, which may hold credentials
    return structlog.dev.ConsoleRenderer(
        colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
    )


def configure_logging(settings: Settings) -> None:
    """Configure structlog and the stdlib root logger once per process (entry points call this)."""
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_color_message],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _renderer(settings),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
