"""Fast yes/no checks for the plain JSON Schemas most tools declare.

jsonschema's validator costs tens of microseconds per call, more than the rest of a step. A
schema that uses only the keywords below is compiled into nested closures that answer "valid?"
in a few microseconds. A "no" (or a schema using anything else) falls back to jsonschema, which
gives the messages; so these checks only need to be right when they say "yes", and the tests
compare them with jsonschema on generated values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sized
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = {
    "title",
    "description",
    "default",
    "examples",
    "$comment",
    "deprecated",
    "readOnly",
    "writeOnly",
    "format",
    "$schema",
}
_DRAFTS = (
    "https://json-schema.org/draft/2020-12/schema",
    "http://json-schema.org/draft-07/schema#",
)


class _Unsupported(Exception):
    """The schema uses a keyword these checks do not implement."""


def compile_check(schema: Any) -> Check | None:
    """A fast check for `schema`, or None when it uses a keyword not handled here."""
    try:
        return _compile(schema)
    except _Unsupported:
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "number": _is_number,
    "integer": lambda value: _is_number(value) and float(value).is_integer(),
}


def _compile(schema: Any) -> Check:
    if schema is True or schema == {}:
        return lambda value: True
    if not isinstance(schema, dict):
        raise _Unsupported
    if schema.get("$schema", _DRAFTS[0]) not in _DRAFTS:
        raise _Unsupported
    checks: list[Check] = []
    for keyword, argument in schema.items():
        if keyword in _ANNOTATIONS or keyword in ("additionalProperties", "required"):
            continue
        builder = _BUILDERS.get(keyword)
        if builder is None:
            raise _Unsupported
        checks.append(builder(argument, schema))
    if "properties" not in schema and ("additionalProperties" in schema or "required" in schema):
        checks.append(_properties({}, schema))
    return lambda value: all(check(value) for check in checks)


def _type(argument: Any, schema: dict[str, Any]) -> Check:
    names = [argument] if isinstance(argument, str) else argument
    if not isinstance(names, list) or any(name not in _TYPES for name in names):
        raise _Unsupported
    tests = [_TYPES[name] for name in names]
    return lambda value: any(test(value) for test in tests)


def _properties(argument: Any, schema: dict[str, Any]) -> Check:
    if not isinstance(argument, dict):
        raise _Unsupported
    known = {name: _compile(sub) for name, sub in argument.items()}
    required = schema.get("required", [])
    if not isinstance(required, list):
        raise _Unsupported
    extra = schema.get("additionalProperties", True)
    extra_check = _compile(extra) if extra is not False else None

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        if any(name not in value for name in required):
            return False
        for name, item in value.items():
            sub = known.get(name)
            if sub is not None:
                if not sub(item):
                    return False
            elif extra_check is None or not extra_check(item):
                return False
        return True

    return check


def _items(argument: Any, schema: dict[str, Any]) -> Check:
    if not isinstance(argument, dict | bool):
        raise _Unsupported  # the draft-7 list form
    each = _compile(argument)
    return lambda value: not isinstance(value, list) or all(each(item) for item in value)


def _enum(argument: Any, schema: dict[str, Any]) -> Check:
    # Strings and null only: JSON equality of numbers and booleans differs from Python's.
    if not isinstance(argument, list) or any(not isinstance(i, str | None) for i in argument):
        raise _Unsupported
    allowed = set(argument)
    return lambda value: isinstance(value, str | None) and value in allowed


def _const(argument: Any, schema: dict[str, Any]) -> Check:
    if isinstance(argument, bool):
        return lambda value: value is argument
    return _enum([argument], schema)


def _bound(test: Callable[[float, float], bool]) -> Callable[[Any, dict[str, Any]], Check]:
    def build(argument: Any, schema: dict[str, Any]) -> Check:
        if not _is_number(argument):
            raise _Unsupported
        return lambda value: not _is_number(value) or test(value, argument)

    return build


def _length(
    test: Callable[[int, int], bool], kind: type[Sized]
) -> Callable[[Any, dict[str, Any]], Check]:
    def build(argument: Any, schema: dict[str, Any]) -> Check:
        if not isinstance(argument, int) or isinstance(argument, bool):
            raise _Unsupported
        return lambda value: not isinstance(value, kind) or test(len(value), argument)

    return build


def _pattern(argument: Any, schema: dict[str, Any]) -> Check:
    if not isinstance(argument, str):
        raise _Unsupported
    compiled = re.compile(argument)
    return lambda value: not isinstance(value, str) or compiled.search(value) is not None


def _any_of(argument: Any, schema: dict[str, Any]) -> Check:
    if not isinstance(argument, list) or not argument:
        raise _Unsupported
    options = [_compile(option) for option in argument]
    return lambda value: any(option(value) for option in options)


_BUILDERS: dict[str, Callable[[Any, dict[str, Any]], Check]] = {
    "type": _type,
    "properties": _properties,
    "items": _items,
    "enum": _enum,
    "const": _const,
    "anyOf": _any_of,
    "pattern": _pattern,
    "minimum": _bound(lambda value, limit: value >= limit),
    "maximum": _bound(lambda value, limit: value <= limit),
    "exclusiveMinimum": _bound(lambda value, limit: value > limit),
    "exclusiveMaximum": _bound(lambda value, limit: value < limit),
    "minLength": _length(lambda size, limit: size >= limit, str),
    "maxLength": _length(lambda size, limit: size <= limit, str),
    "minItems": _length(lambda size, limit: size >= limit, list),
    "maxItems": _length(lambda size, limit: size <= limit, list),
}
