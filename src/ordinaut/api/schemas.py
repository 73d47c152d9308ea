"""Request and response shapes of the task, run and tool routes: what /docs shows.

Responses are built from the frozen values of the service layer (`from_attributes`), so a
field added to a value shows up here only when it is added on purpose.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from ordinaut.core.states import (
    BackoffStrategy,
    Catchup,
    DstGap,
    DstOverlap,
    ScheduleKind,
    TaskStatus,
    WorkState,
)

T = TypeVar("T")


def _as_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("instant is out of range") from None


Instant = Annotated[AwareDatetime, AfterValidator(_as_utc)]
"""An ISO-8601 instant with an offset (`Z` or `+02:00`), held in UTC."""

MAX_OFFSET = 2**31 - 1


class Problem(BaseModel):
    """An error (RFC 9457 problem+json); `errors[].loc` names each field at fault."""

    type: str
    title: str
    status: int
    detail: str
    request_id: str | None
    errors: list[dict[str, Any]] = Field(description="[{loc: [...], msg}] one per problem")


_PROBLEM_TEXT = {
    401: "missing or invalid credentials",
    403: "the credential lacks the scope this route needs",
    404: "unknown id, or another agent's",
    409: "the current state forbids this",
    422: "invalid input; errors[].loc names each field",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, as the problem+json they really are."""
    schema = Problem.model_json_schema()
    return {
        status: {
            "description": _PROBLEM_TEXT[status],
            "content": {"application/problem+json": {"schema": schema}},
        }
        for status in statuses
    }


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(Output, Generic[T]):
    """The list envelope: one page of `items`, newest first, and the total that match."""

    items: list[T]
    total: int
    limit: int
    offset: int
    has_more: bool

    @classmethod
    def of(cls, items: list[Any], total: int, limit: int, offset: int) -> Self:
        return cls(
            items=items,
            total=total,
            limit=limit,
            offset=offset,
            has_more=offset + len(items) < total,
        )


class TaskOut(Output):
    """A task as saved, with the server's defaults filled in."""

    id: str
    title: str
    description: str
    created_by: str = Field(description="the agent that created it")
    schedule_kind: ScheduleKind
    schedule_expr: str
    timezone: str
    dtstart: datetime = Field(description="the anchor of the series (creation, seconds zeroed)")
    payload: dict[str, Any]
    status: TaskStatus
    priority: int
    max_retries: int
    backoff_strategy: BackoffStrategy
    dedupe_key: str | None
    dedupe_window_seconds: int
    concurrency_key: str | None
    dst_gap: DstGap
    dst_overlap: DstOverlap
    catchup: Catchup
    misfire_grace_seconds: int
    next_run_at: datetime | None
    last_run_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TaskPage(Page[TaskOut]):
    pass


class ActionOut(Output):
    success: bool
    message: str
    details: dict[str, Any]


class SnoozeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delay_seconds: int = Field(ge=1, le=604_800, description="1 second to 7 days")
    reason: str | None = Field(None, max_length=500)


class PreviewIn(BaseModel):
    """A schedule to preview; nothing is saved."""

    model_config = ConfigDict(extra="forbid")

    schedule_kind: ScheduleKind
    schedule_expr: str = Field(min_length=1, max_length=4000)
    timezone: str | None = Field(None, max_length=64, description="IANA name; server default")
    count: int = Field(10, ge=1, le=1000)
    after: Instant | None = Field(None, description="list occurrences after this; default now")
    dst_gap: DstGap = DstGap.SHIFT
    dst_overlap: DstOverlap = DstOverlap.FIRST


class OccurrenceOut(Output):
    local: str = Field(description="local wall time with its offset")
    utc: str = Field(description="the instant in UTC, ending in Z")
    offset: str = Field(description="the zone's UTC offset then, as +HH:MM")
    note: str | None = Field(description="DST note: shifted, skipped or repeated")


class PreviewOut(Output):
    occurrences: list[OccurrenceOut]


class PipelineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payload: Any = Field(description="`{params?, pipeline: [...]}` as in a task")


class ValidOut(Output):
    valid: Literal[True]


class ToolOut(Output):
    name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    timeout_seconds: float
    scopes: list[str] = Field(description="scopes a task's owner needs to use the tool")
    transport: str


class RunOut(Output):
    """One attempt of one occurrence; `success` is null while it runs."""

    id: str
    task_id: str
    due_work_id: str
    attempt: int
    worker_id: str
    started_at: datetime
    finished_at: datetime | None
    duration_ms: float | None
    success: bool | None
    error: str | None = Field(description="null unless include_errors=true")
    output: dict[str, Any] | None = Field(description="each step's input, result and status")


class RunPage(Page[RunOut]):
    pass


class RunStatsOut(Output):
    """Runs started in the last `days` days (since `since`)."""

    task_id: str | None
    days: int
    since: datetime
    total: int
    succeeded: int
    failed: int
    success_rate: float | None = Field(description="succeeded / finished; null with none")
    avg_duration_ms: float | None
    max_duration_ms: float | None
    last_started_at: datetime | None
    task_count: int


class WorkOut(Output):
    """One occurrence in the `due_work` ledger."""

    id: str
    task_id: str
    scheduled_for: datetime
    run_at: datetime
    state: WorkState
    attempt: int
    max_attempts: int
    priority: int
    concurrency_key: str | None
    locked_by: str | None
    locked_until: datetime | None
    reason: str | None = Field(description="why it is in its state (run_now, missed...)")
    event_id: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class WorkPage(Page[WorkOut]):
    pass


class WorkerOut(Output):
    """A registered worker or scheduler process and its last heartbeat."""

    id: str
    kind: str
    hostname: str
    pid: int
    version: str
    started_at: datetime
    last_seen_at: datetime
    running: int
    processed: int
    info: dict[str, Any] | None
