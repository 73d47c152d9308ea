"""The schedule of a stored task, as the pure schedule math sees it."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ordinaut.core.states import DstGap, DstOverlap, ScheduleKind
from ordinaut.scheduling.spec import ScheduleSpec


class Scheduled(Protocol):
    """The schedule columns of a task row (a full `Task` or the tick's slim `DueTask`)."""

    @property
    def schedule_kind(self) -> str: ...
    @property
    def schedule_expr(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def dtstart(self) -> datetime: ...
    @property
    def dst_gap(self) -> str: ...
    @property
    def dst_overlap(self) -> str: ...


def spec_of(task: Scheduled) -> ScheduleSpec:
    return ScheduleSpec(
        kind=ScheduleKind(task.schedule_kind),
        expr=task.schedule_expr,
        timezone=task.timezone,
        dtstart=task.dtstart,
        dst_gap=DstGap(task.dst_gap),
        dst_overlap=DstOverlap(task.dst_overlap),
    )
