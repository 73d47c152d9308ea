"""Frozen value types passed between layers (rows become these at the store boundary)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ordinaut.core.states import Scope


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    scopes: tuple[str, ...]
    active: bool
    created_at: datetime
    updated_at: datetime

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    def has_scope(self, scope: str) -> bool:
        return self.is_admin or scope in self.scopes


@dataclass(frozen=True)
class Task:
    id: str
    title: str
    description: str
    created_by: str
    schedule_kind: str
    schedule_expr: str
    timezone: str
    dtstart: datetime
    payload: dict[str, Any]
    status: str
    priority: int
    max_retries: int
    backoff_strategy: str
    dedupe_key: str | None
    dedupe_window_seconds: int
    concurrency_key: str | None
    dst_gap: str
    dst_overlap: str
    catchup: str
    misfire_grace_seconds: int
    next_run_at: datetime | None
    last_run_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DueWork:
    """One occurrence in the ledger."""

    id: str
    task_id: str
    scheduled_for: datetime
    run_at: datetime
    state: str
    attempt: int
    max_attempts: int
    priority: int
    concurrency_key: str | None
    locked_by: str | None
    locked_until: datetime | None
    reason: str | None
    event_id: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
