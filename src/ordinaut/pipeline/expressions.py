"""JMESPath expressions as pipelines use them: compiled once, checked statically, evaluated fast.

Besides plain JMESPath, an expression may be `now`, `now+24h` or `now-15m` (units s, m, h, d,
w): these give ISO-8601 UTC instants computed from the run's clock, which JMESPath cannot.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath import functions as jmespath_functions
from jmespath.parser import ParsedResult

ROOT_NAMES = ("now", "params", "steps", "task", "run", "event")
_NOW_OFFSET = re.compile(r"\s*now\s*(?:([+-])\s*(\d+)\s*([smhdw]))?\s*")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_FUNCTIONS = jmespath_functions.Functions().FUNCTION_TABLE
# Nodes whose right-hand children are evaluated against each element, not against the root.
_ELEMENT_SCOPED = {"projection", "value_projection", "filter_projection", "pipe"}
_OPTIONS = jmespath.Options(dict_cls=dict)


class ExpressionError(ValueError):
    """An expression that cannot be compiled or refers to something that cannot exist."""


def format_instant(instant: datetime) -> str:
    """The one text form of instants in templates: ISO-8601, UTC, seconds, `Z` suffix."""
    plain = instant.astimezone(UTC).replace(microsecond=0, tzinfo=None)
    return plain.isoformat() + "Z"


@dataclass(frozen=True)
class Expression:
    """A compiled expression and what it reads from the root of the context."""

    source: str
    parsed: ParsedResult | None = field(repr=False, compare=False)
    now_offset: timedelta | None = None
    step_refs: frozenset[str] = frozenset()
    field_path: tuple[str, ...] | None = None  # `a.b.c`: read directly, the common case

    def evaluate(self, data: Mapping[str, Any], now: datetime) -> Any:
        """Evaluate against `data`; raises ExpressionError on a runtime type error."""
        if self.field_path is not None:
            value: Any = data
            for name in self.field_path:
                value = value.get(name) if isinstance(value, dict) else None
            return value
        if self.parsed is None:
            return format_instant(now + (self.now_offset or timedelta()))
        try:
            return self.parsed.search(data, _OPTIONS)
        except jmespath_errors.JMESPathError as exc:
            raise ExpressionError(f"{self.source!r}: {exc}") from exc


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> Expression:
    """Compile and check `source` once; the cache makes repeated rendering cheap."""
    now = _NOW_OFFSET.fullmatch(source)
    if now is not None:
        sign, amount, unit = now.groups()
        offset = timedelta()
        if amount is not None:
            offset = timedelta(seconds=int(amount) * _UNIT_SECONDS[unit])
            offset = -offset if sign == "-" else offset
        return Expression(source, None, offset)
    try:
        parsed = jmespath.compile(source)
    except jmespath_errors.JMESPathError as exc:
        raise ExpressionError(f"invalid expression {source!r}: {_first_line(exc)}") from exc
    roots, steps = _root_reads(parsed.parsed)
    unknown = sorted(roots - set(ROOT_NAMES))
    if unknown:
        raise ExpressionError(
            f"expression {source!r} reads {', '.join(unknown)}, which does not exist;"
            f" use one of {', '.join(ROOT_NAMES)}"
        )
    _check_functions(source, parsed.parsed)
    return Expression(source, parsed, None, frozenset(steps), _field_path(parsed.parsed))


def _field_path(node: Mapping[str, Any]) -> tuple[str, ...] | None:
    """(a, b, c) for `a.b.c`, which plain dict lookups evaluate exactly as JMESPath does."""
    if node.get("type") == "field":
        return (str(node["value"]),)
    if node.get("type") == "subexpression" and all(
        child.get("type") == "field" for child in node["children"]
    ):
        return tuple(str(child["value"]) for child in node["children"])
    return None


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0]


def _check_functions(source: str, node: Mapping[str, Any]) -> None:
    for call in _walk(node):
        if call.get("type") != "function_expression":
            continue
        name = call["value"]
        spec = _FUNCTIONS.get(name)
        if spec is None:
            raise ExpressionError(f"expression {source!r} calls unknown function {name}()")
        signature = spec["signature"]
        count = len(call["children"])
        variadic = bool(signature) and signature[-1].get("variadic", False)
        if count < len(signature) - variadic or (not variadic and count != len(signature)):
            raise ExpressionError(
                f"expression {source!r}: {name}() takes {len(signature)} argument(s), got {count}"
            )


def _walk(node: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(node, Mapping):
        yield node
        for child in node.get("children", ()):
            yield from _walk(child)


def _root_reads(node: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """Top-level names read from the root context, and the `X` of every `steps.X` read."""
    roots: set[str] = set()
    steps: set[str] = set()
    _collect(node, roots, steps)
    return roots, steps


def _collect(node: Any, roots: set[str], steps: set[str]) -> None:
    if not isinstance(node, Mapping):
        return
    kind, children = node.get("type"), node.get("children", [])
    if kind == "field":
        roots.add(node["value"])
        return
    if kind in ("subexpression", "index_expression"):
        _collect(children[0], roots, steps)
        if _is_field(children[0], "steps") and len(children) > 1:
            name = _leading_field(children[1])
            if name is not None:
                steps.add(name)
        return
    if kind in _ELEMENT_SCOPED or kind == "expref":
        # Only the left side reads the root; the rest reads each element.
        if kind != "expref" and children:
            _collect(children[0], roots, steps)
        return
    for child in children:
        _collect(child, roots, steps)


def _is_field(node: Any, name: str) -> bool:
    return isinstance(node, Mapping) and node.get("type") == "field" and node["value"] == name


def _leading_field(node: Any) -> str | None:
    while isinstance(node, Mapping):
        if node.get("type") == "field":
            return str(node["value"])
        if node.get("type") not in ("index_expression", "subexpression"):
            return None
        node = node["children"][0]
    return None
