"""Checking a payload before it is saved, and turning it into the plan the executor runs.

`parse_pipeline` reports every problem at once, each at its location (for example
`("body", "payload", "pipeline", 2, "with", "url")`), so a task that is saved can run.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from jsonschema.exceptions import ValidationError

from ordinaut.core.errors import FieldError, InvalidInput, Loc
from ordinaut.pipeline.conditions import compile_condition
from ordinaut.pipeline.expressions import Expression, ExpressionError
from ordinaut.pipeline.registry import Tool, ToolRegistry, allowed
from ordinaut.pipeline.templates import parse_template, template_strings

MAX_STEPS = 100
MAX_ATTEMPTS = 10
MAX_TIMEOUT_SECONDS = 86_400.0
MAX_BACKOFF_SECONDS = 3_600.0
_PAYLOAD_KEYS = {"params", "pipeline"}
_STEP_KEYS = {"id", "uses", "with", "save_as", "if", "timeout_seconds", "retry", "on_error"}
_STEP_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_SAVE_AS = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Schema rules about which keys or how many items exist: templates cannot change their verdict.
_STRUCTURAL_RULES = {
    "required",
    "additionalProperties",
    "minProperties",
    "maxProperties",
    "minItems",
    "maxItems",
    "dependentRequired",
}

OnError = Literal["fail", "continue"]


@dataclass(frozen=True)
class Step:
    """One checked step, with its tool resolved and its expressions compiled."""

    index: int
    id: str
    tool: Tool
    args: dict[str, Any]
    save_as: str | None
    condition: Expression | None
    timeout_seconds: float
    max_attempts: int
    backoff_seconds: float
    on_error: OnError


@dataclass(frozen=True)
class Pipeline:
    params: dict[str, Any]
    steps: tuple[Step, ...]


def validate_payload(
    payload: object,
    registry: ToolRegistry,
    owner_scopes: Collection[str],
    loc_prefix: Loc = ("body", "payload"),
) -> None:
    """Raise InvalidInput listing every problem of `payload`; return None when it can run."""
    parse_pipeline(payload, registry, owner_scopes, loc_prefix)


def parse_pipeline(
    payload: object,
    registry: ToolRegistry,
    owner_scopes: Collection[str],
    loc_prefix: Loc = ("body", "payload"),
) -> Pipeline:
    if not isinstance(payload, dict):
        raise InvalidInput.at(loc_prefix, "payload must be an object {params?, pipeline: [...]}")
    problems = _Problems()
    for key in sorted(set(payload) - _PAYLOAD_KEYS, key=str):
        problems.add((*loc_prefix, key), f"unknown key {key!r}; a payload has params and pipeline")
    params = payload.get("params", {})
    if not isinstance(params, dict):
        problems.add((*loc_prefix, "params"), "params must be an object")
        params = {}
    raw_steps = payload.get("pipeline")
    steps: list[Step] = []
    if not isinstance(raw_steps, list) or not raw_steps:
        problems.add((*loc_prefix, "pipeline"), "pipeline must be a non-empty list of steps")
    elif len(raw_steps) > MAX_STEPS:
        problems.add((*loc_prefix, "pipeline"), f"pipeline has more than {MAX_STEPS} steps")
    else:
        steps = _parse_steps(raw_steps, registry, owner_scopes, (*loc_prefix, "pipeline"), problems)
    problems.raise_if_any()
    return Pipeline(params, tuple(steps))


class _Problems:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, loc: Loc, msg: str) -> None:
        self.errors.append(FieldError(loc, msg))

    def raise_if_any(self) -> None:
        if self.errors:
            count = len(self.errors)
            more = f" (and {count - 1} more)" if count > 1 else ""
            raise InvalidInput(f"invalid pipeline: {self.errors[0].msg}{more}", self.errors)


def _parse_steps(
    raw_steps: list[Any],
    registry: ToolRegistry,
    owner_scopes: Collection[str],
    loc: Loc,
    problems: _Problems,
) -> list[Step]:
    steps: list[Step] = []
    ids: set[str] = set()
    saved: set[str] = set()
    for index, raw in enumerate(raw_steps):
        step_loc = (*loc, index)
        if not isinstance(raw, dict):
            problems.add(step_loc, "a step must be an object with at least 'uses'")
            continue
        step = _parse_step(index, raw, registry, owner_scopes, step_loc, problems, saved)
        if step is None:
            continue
        if step.id in ids:
            problems.add((*step_loc, "id"), f"step id {step.id!r} is used twice")
        ids.add(step.id)
        if step.save_as is not None:
            if step.save_as in saved:
                problems.add((*step_loc, "save_as"), f"save_as {step.save_as!r} is used twice")
            saved.add(step.save_as)
        steps.append(step)
    return steps


def _parse_step(
    index: int,
    raw: dict[str, Any],
    registry: ToolRegistry,
    owner_scopes: Collection[str],
    loc: Loc,
    problems: _Problems,
    earlier: set[str],
) -> Step | None:
    for key in sorted(set(raw) - _STEP_KEYS, key=str):
        problems.add((*loc, key), f"unknown step key {key!r}")
    tool = _resolve_tool(raw.get("uses"), registry, owner_scopes, (*loc, "uses"), problems)
    args = raw.get("with", {})
    if not isinstance(args, dict):
        problems.add((*loc, "with"), "with must be an object of tool arguments")
        args = {}
    _check_templates(args, (*loc, "with"), problems, earlier)
    if tool is not None:
        _check_literal_args(tool, args, (*loc, "with"), problems)
    save_as = _save_as(raw.get("save_as"), (*loc, "save_as"), problems)
    step_id = _step_id(raw.get("id"), save_as, index, (*loc, "id"), problems)
    condition = _condition(raw.get("if"), (*loc, "if"), problems, earlier)
    timeout = _number(
        raw.get("timeout_seconds"),
        (*loc, "timeout_seconds"),
        problems,
        low=0.0,
        high=MAX_TIMEOUT_SECONDS,
        strict_low=True,
    )
    attempts, backoff = _retry(raw.get("retry"), (*loc, "retry"), problems)
    on_error = raw.get("on_error", "fail")
    if on_error not in ("fail", "continue"):
        problems.add((*loc, "on_error"), "on_error must be 'fail' or 'continue'")
        on_error = "fail"
    if tool is None:
        return None
    return Step(
        index,
        step_id,
        tool,
        args,
        save_as,
        condition,
        timeout if timeout is not None else tool.timeout_seconds,
        attempts,
        backoff,
        on_error,
    )


def _resolve_tool(
    uses: object,
    registry: ToolRegistry,
    owner_scopes: Collection[str],
    loc: Loc,
    problems: _Problems,
) -> Tool | None:
    if not isinstance(uses, str) or not uses:
        problems.add(loc, "uses must name a tool, such as 'echo.message'")
        return None
    tool = registry.find(uses)
    if tool is None:
        problems.add(loc, registry.unknown_message(uses))
        return None
    if not allowed(tool, owner_scopes):
        missing = ", ".join(scope for scope in tool.scopes if scope not in owner_scopes)
        problems.add(loc, f"tool {uses!r} needs scope(s) the task's owner lacks: {missing}")
        return None
    return tool


def _check_templates(args: Any, loc: Loc, problems: _Problems, earlier: set[str]) -> None:
    for where, text in template_strings(args, loc):
        try:
            template = parse_template(text)
        except ExpressionError as exc:
            problems.add(where, str(exc))
            continue
        for expression in template.expressions:
            _check_step_refs(expression, where, problems, earlier)


def _check_step_refs(
    expression: Expression, loc: Loc, problems: _Problems, earlier: set[str]
) -> None:
    for name in sorted(expression.step_refs - earlier):
        problems.add(
            loc,
            f"expression {expression.source!r} reads steps.{name}, but no earlier step"
            f" has save_as {name!r}",
        )


def _check_literal_args(tool: Tool, args: dict[str, Any], loc: Loc, problems: _Problems) -> None:
    """Check what is known before rendering: present keys and literal values' types."""
    for error in tool.input_errors(args):
        if error.validator not in _STRUCTURAL_RULES and _holds_template(error.instance):
            continue
        problems.add((*loc, *error.absolute_path), _schema_message(error))


def _schema_message(error: ValidationError) -> str:
    rule = "/".join(str(part) for part in error.absolute_schema_path)
    return f"{error.message} (schema: {rule})"


def _holds_template(value: Any) -> bool:
    return any(True for _ in template_strings(value, ()))


def _save_as(value: object, loc: Loc, problems: _Problems) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SAVE_AS.match(value):
        problems.add(
            loc, "save_as must be a name of letters, digits and _ (not starting with a digit)"
        )
        return None
    return value


def _step_id(value: object, save_as: str | None, index: int, loc: Loc, problems: _Problems) -> str:
    if value is None:
        return save_as or f"step{index + 1}"
    if not isinstance(value, str) or not _STEP_ID.match(value):
        problems.add(loc, "id must be 1-64 letters, digits, '_', '-' or '.'")
        return f"step{index + 1}"
    return value


def _condition(
    value: object, loc: Loc, problems: _Problems, earlier: set[str]
) -> Expression | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.add(loc, "if must be a JMESPath expression (a string)")
        return None
    try:
        condition = compile_condition(value)
    except ExpressionError as exc:
        problems.add(loc, str(exc))
        return None
    _check_step_refs(condition, loc, problems, earlier)
    return condition


def _number(
    value: object, loc: Loc, problems: _Problems, *, low: float, high: float, strict_low: bool
) -> float | None:
    if value is None:
        return None
    number = None if isinstance(value, bool) or not isinstance(value, int | float) else float(value)
    if number is None or number < low or number > high or (strict_low and number == low):
        bound = ">" if strict_low else ">="
        problems.add(loc, f"must be a number {bound} {low:g} and <= {high:g}")
        return None
    return number


def _retry(value: object, loc: Loc, problems: _Problems) -> tuple[int, float]:
    if value is None:
        return 1, 0.0
    if not isinstance(value, dict):
        problems.add(loc, "retry must be {max_attempts, backoff_seconds}")
        return 1, 0.0
    for key in sorted(set(value) - {"max_attempts", "backoff_seconds"}, key=str):
        problems.add((*loc, key), f"unknown retry key {key!r}")
    attempts = value.get("max_attempts", 3)
    if (
        isinstance(attempts, bool)
        or not isinstance(attempts, int)
        or not 1 <= attempts <= MAX_ATTEMPTS
    ):
        problems.add((*loc, "max_attempts"), f"max_attempts must be an integer 1..{MAX_ATTEMPTS}")
        attempts = 1
    backoff = _number(
        value.get("backoff_seconds", 1.0),
        (*loc, "backoff_seconds"),
        problems,
        low=0.0,
        high=MAX_BACKOFF_SECONDS,
        strict_low=False,
    )
    return attempts, 0.0 if backoff is None else backoff
