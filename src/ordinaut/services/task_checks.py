"""Checks a task must pass before it is saved, each problem reported at its field.

Beyond schedule and pipeline validation, input must be storable on both databases: PostgreSQL
refuses NUL characters in text and JSON, neither database takes lone UTF-16 surrogates, JSON
has no NaN or Infinity, and integer columns have a range. Catching these here turns what would
be a database error (a 500) into a 422 that names the field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ordinaut.core.errors import FieldError, InvalidInput, Loc
from ordinaut.core.states import ScheduleKind
from ordinaut.pipeline import ToolRegistry, validate_payload
from ordinaut.services.schedules import checked_schedule

MAX_DEDUPE_WINDOW_SECONDS = 10 * 366 * 86_400  # ten years: far beyond use, well inside INTEGER
NULLABLE_FIELDS = frozenset({"concurrency_key", "dedupe_key"})


def collect(*checks: Callable[[], object]) -> None:
    """Run every check, then raise one InvalidInput holding all of their problems."""
    errors: list[FieldError] = []
    for check in checks:
        try:
            check()
        except InvalidInput as exc:
            errors.extend(exc.errors or (FieldError(("body",), exc.message),))
    if errors:
        raise InvalidInput("; ".join(e.msg for e in errors), errors)


def check_task_fields(
    registry: ToolRegistry,
    scopes: tuple[str, ...],
    fields: Mapping[str, Any],
    schedule: tuple[ScheduleKind, str, str],
    payload: dict[str, Any] | None,
) -> None:
    """Raise InvalidInput with every problem of the given task fields and the resulting schedule.

    `fields` are the values sent (a whole draft, or the fields of a patch); `schedule` is the
    kind, expression and zone the task will have; `payload` is checked only when given.
    """
    checks: list[Callable[[], object]] = [
        lambda: check_storable(fields),
        lambda: checked_schedule(*schedule),
    ]
    if payload is not None:
        checks.append(lambda: validate_payload(payload, registry, scopes))
    collect(*checks)


def check_storable(fields: Mapping[str, Any]) -> None:
    """Refuse values neither database can hold, and nulls where a column needs a value."""
    errors = [FieldError(loc, msg) for loc, msg in _unstorable(fields, ("body",))]
    for name, value in fields.items():
        if value is None and name not in NULLABLE_FIELDS and name in _REQUIRED_IF_GIVEN:
            errors.append(FieldError(("body", name), f"{name} may not be null"))
    window = fields.get("dedupe_window_seconds")
    if isinstance(window, int) and window > MAX_DEDUPE_WINDOW_SECONDS:
        errors.append(
            FieldError(
                ("body", "dedupe_window_seconds"),
                f"dedupe_window_seconds must be at most {MAX_DEDUPE_WINDOW_SECONDS}",
            )
        )
    if errors:
        raise InvalidInput("; ".join(e.msg for e in errors), errors)


# Fields a patch may leave out but may not set to null (the columns are NOT NULL).
_REQUIRED_IF_GIVEN = frozenset(
    {
        "title",
        "description",
        "schedule_kind",
        "schedule_expr",
        "timezone",
        "payload",
        "priority",
        "max_retries",
        "backoff_strategy",
        "dst_gap",
        "dst_overlap",
        "catchup",
        "misfire_grace_seconds",
    }
)


def _unstorable(value: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if isinstance(value, str):
        problem = _text_problem(value)
        if problem:
            yield loc, problem
    elif isinstance(value, float) and not math.isfinite(value):
        yield loc, "numbers must be finite (JSON has no NaN or Infinity)"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            # the location itself must be printable in the JSON of the 422
            safe_key = str(key).replace("\x00", "\\u0000").encode("utf-8", "replace").decode()
            problem = _text_problem(str(key))
            if problem:
                yield (*loc, safe_key), f"key: {problem}"
            yield from _unstorable(item, (*loc, safe_key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _unstorable(item, (*loc, index))


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "text may not contain NUL (\\u0000) characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text is not valid Unicode (a lone surrogate escape)"
    return None
