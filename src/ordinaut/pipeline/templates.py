"""`${...}` templates in step arguments: parsed once, rendered with types kept.

A string that is exactly one `${expr}` renders to the expression's value with its JSON type.
In longer text, strings are inserted as they are, other scalars as JSON text (`5`, `true`),
objects and lists as compact JSON, and a missing value (null) as empty text. `$${` is a
literal `${`. Inserted values are never parsed again, so data cannot inject templates.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from ordinaut.core.errors import Loc
from ordinaut.pipeline.expressions import Expression, ExpressionError, compile_expression

_CLOSING_QUOTES = {"'": "'", '"': '"', "`": "`"}


@dataclass(frozen=True)
class Template:
    """A parsed string: literal text and expressions in order; `whole` when it is one `${}`."""

    parts: tuple[str | Expression, ...]
    whole: Expression | None

    @property
    def expressions(self) -> tuple[Expression, ...]:
        return tuple(part for part in self.parts if isinstance(part, Expression))

    def render(self, data: Mapping[str, Any], now: datetime) -> Any:
        if self.whole is not None:
            return self.whole.evaluate(data, now)
        return "".join(
            part if isinstance(part, str) else value_as_text(part.evaluate(data, now))
            for part in self.parts
        )


def value_as_text(value: Any) -> str:
    """How a value reads inside longer text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if type(value) is int:
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def is_template(value: object) -> bool:
    """True for a string that holds at least one `${` (escaped or not)."""
    return isinstance(value, str) and "${" in value


@lru_cache(maxsize=4096)
def parse_template(text: str) -> Template:
    """Parse `text`; raises ExpressionError naming the bad expression."""
    parts: list[str | Expression] = []
    literal: list[str] = []
    index = 0
    while (dollar := text.find("$", index)) >= 0:
        if dollar > index:
            literal.append(text[index:dollar])
        if text.startswith("$${", dollar):
            literal.append("${")
            index = dollar + 3
        elif text.startswith("${", dollar):
            end = _expression_end(text, dollar + 2)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(compile_expression(text[dollar + 2 : end].strip()))
            index = end + 1
        else:
            literal.append("$")
            index = dollar + 1
    if index < len(text):
        literal.append(text[index:])
    if literal:
        parts.append("".join(literal))
    whole = parts[0] if len(parts) == 1 and isinstance(parts[0], Expression) else None
    return Template(tuple(parts), whole)


def _expression_end(text: str, start: int) -> int:
    """Index of the `}` closing an expression, skipping nested braces and quoted text."""
    depth, index, quote = 0, start, ""
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in _CLOSING_QUOTES:
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return index
            depth -= 1
        index += 1
    raise ExpressionError(f"unterminated '${{' in {text[start - 2 :][:60]!r}")


def render(value: Any, data: Mapping[str, Any], now: datetime) -> Any:
    """Render every template inside `value` (dicts and lists recursively; keys stay as they are)."""
    if isinstance(value, str):
        return parse_template(value).render(data, now) if "${" in value else value
    if isinstance(value, dict):
        return {key: render(item, data, now) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, data, now) for item in value]
    return value


def template_strings(value: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    """Every string holding a template inside `value`, with its location."""
    if isinstance(value, str):
        if "${" in value:
            yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from template_strings(item, (*loc, key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from template_strings(item, (*loc, position))
