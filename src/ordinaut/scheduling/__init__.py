"""Schedule math (pure, no I/O): validate schedules and compute their next occurrences."""

from ordinaut.scheduling.preview import preview
from ordinaut.scheduling.spec import (
    Occurrence,
    ScheduleSpec,
    anchor_dtstart,
    is_finite,
    next_occurrence,
    next_occurrences,
    validate_schedule,
)

__all__ = [
    "Occurrence",
    "ScheduleSpec",
    "anchor_dtstart",
    "is_finite",
    "next_occurrence",
    "next_occurrences",
    "preview",
    "validate_schedule",
]
