"""Values stored in state and policy columns; the CHECK constraints are built from these."""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    ACTIVE = "active"  # left by pause (API), cancel (API) or the scheduler (series exhausted)
    PAUSED = "paused"  # left by resume or cancel (API)
    COMPLETED = "completed"  # final: moved here by the scheduler or worker
    CANCELED = "canceled"  # final: moved here by cancel (API)


class WorkState(StrEnum):
    SCHEDULED = "scheduled"  # left when a worker claims it, or the scheduler marks it missed
    RUNNING = "running"  # left by the claiming worker's finish, or by lease expiry
    RETRYING = "retrying"  # left when a worker claims it again after its backoff
    SUCCEEDED = "succeeded"  # final
    FAILED = "failed"  # final: attempts used up or an error retrying cannot fix
    MISSED = "missed"  # final: past the misfire grace, by the task's catch-up policy
    CANCELED = "canceled"  # final: its task was canceled or deleted

    @classmethod
    def final(cls) -> frozenset[WorkState]:
        return frozenset({cls.SUCCEEDED, cls.FAILED, cls.MISSED, cls.CANCELED})


class ScheduleKind(StrEnum):
    ONCE = "once"
    CRON = "cron"
    RRULE = "rrule"
    EVENT = "event"
    CONDITION = "condition"


class BackoffStrategy(StrEnum):
    EXPONENTIAL_JITTER = "exponential_jitter"
    LINEAR = "linear"
    FIXED = "fixed"


class DstGap(StrEnum):
    SHIFT = "shift"  # a wall time in a spring-forward gap moves forward by the gap
    SKIP = "skip"  # ... or is dropped


class DstOverlap(StrEnum):
    FIRST = "first"  # a repeated wall time runs at its first instant
    LAST = "last"  # ... at its second
    BOTH = "both"  # ... at both


class Catchup(StrEnum):
    LATEST = "latest"  # run the newest missed occurrence once, mark the rest missed
    ALL = "all"  # run every missed occurrence (bounded)
    NONE = "none"  # mark every missed occurrence missed


class ProcessKind(StrEnum):
    WORKER = "worker"
    SCHEDULER = "scheduler"


class Scope(StrEnum):
    TASKS_READ = "tasks:read"
    TASKS_WRITE = "tasks:write"
    RUNS_READ = "runs:read"
    EVENTS_PUBLISH = "events:publish"
    EVENTS_READ = "events:read"
    TOOLS_READ = "tools:read"
    ADMIN = "admin"


def values(enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum]
