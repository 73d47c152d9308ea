"""Step conditions: a JMESPath test, bare or wrapped in `${}`, judged by JMESPath truthiness."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ordinaut.pipeline.expressions import Expression, ExpressionError, compile_expression
from ordinaut.pipeline.templates import parse_template


def compile_condition(source: str) -> Expression:
    """Compile an `if`; raises ExpressionError. `${x}` and `x` mean the same test."""
    text = source.strip()
    if "${" in text:
        template = parse_template(text)
        if template.whole is None:
            raise ExpressionError(
                f"condition {source!r} must be one expression, bare or wrapped in ${{}}"
            )
        return template.whole
    return compile_expression(text)


def is_truthy(value: Any) -> bool:
    """JMESPath truthiness: null, false and empty strings, lists, objects are false; 0 is true."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True


def condition_holds(condition: Expression, data: Mapping[str, Any], now: datetime) -> bool:
    return is_truthy(condition.evaluate(data, now))
