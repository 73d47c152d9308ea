"""The shapes agents send to create and change tasks (REST and MCP share them)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ordinaut.core.states import BackoffStrategy, Catchup, DstGap, DstOverlap, ScheduleKind


class TaskDraft(BaseModel):
    """`POST /tasks`. Defaults that depend on the server (time zone, retries) are filled later."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    schedule_kind: ScheduleKind
    schedule_expr: str = Field(min_length=1, max_length=4000)
    timezone: str | None = Field(None, max_length=64)
    payload: dict[str, Any]
    priority: int = Field(5, ge=1, le=9)
    max_retries: int | None = Field(None, ge=0, le=10)
    backoff_strategy: BackoffStrategy = BackoffStrategy.EXPONENTIAL_JITTER
    dedupe_key: str | None = Field(None, min_length=1, max_length=100)
    dedupe_window_seconds: int = Field(0, ge=0)
    concurrency_key: str | None = Field(None, min_length=1, max_length=100)
    dst_gap: DstGap = DstGap.SHIFT
    dst_overlap: DstOverlap = DstOverlap.FIRST
    catchup: Catchup = Catchup.LATEST
    misfire_grace_seconds: int | None = Field(None, ge=0, le=86400 * 7)


class TaskPatch(BaseModel):
    """`PUT /tasks/{id}`: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    schedule_kind: ScheduleKind | None = None
    schedule_expr: str | None = Field(None, min_length=1, max_length=4000)
    timezone: str | None = Field(None, max_length=64)
    payload: dict[str, Any] | None = None
    priority: int | None = Field(None, ge=1, le=9)
    max_retries: int | None = Field(None, ge=0, le=10)
    backoff_strategy: BackoffStrategy | None = None
    concurrency_key: str | None = Field(None, min_length=1, max_length=100)
    dst_gap: DstGap | None = None
    dst_overlap: DstOverlap | None = None
    catchup: Catchup | None = None
    misfire_grace_seconds: int | None = Field(None, ge=0, le=86400 * 7)

    SCHEDULE_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"schedule_kind", "schedule_expr", "timezone", "dst_gap", "dst_overlap"}
    )
