"""The schedule of a stored task, as the pure schedule math sees it."""

from __future__ import annotations

from ordinaut.core.models import Task
from ordinaut.core.states import DstGap, DstOverlap, ScheduleKind
from ordinaut.scheduling.spec import ScheduleSpec


def spec_of(task: Task) -> ScheduleSpec:
    return ScheduleSpec(
        kind=ScheduleKind(task.schedule_kind),
        expr=task.schedule_expr,
        timezone=task.timezone,
        dtstart=task.dtstart,
        dst_gap=DstGap(task.dst_gap),
        dst_overlap=DstOverlap(task.dst_overlap),
    )
