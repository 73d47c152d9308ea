"""Fast schema checks agree with jsonschema whenever they say "valid"."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from ordinaut.pipeline.builtin_tools import builtin_tools
from ordinaut.pipeline.http_tools import HTTP_REQUEST_INPUT, HTTP_REQUEST_OUTPUT
from ordinaut.pipeline.schema_checks import compile_check

SCHEMAS: list[dict[str, Any]] = [
    *(tool.input_schema for tool in builtin_tools(None)),
    *(tool.output_schema for tool in builtin_tools(None)),
    HTTP_REQUEST_OUTPUT,
    {"type": "integer", "minimum": 0, "maximum": 10},
    {"type": ["string", "null"], "minLength": 1, "maxLength": 3, "pattern": "^a"},
    {
        "type": "array",
        "items": {"type": "number", "exclusiveMinimum": 0},
        "minItems": 1,
        "maxItems": 3,
    },
    {
        "type": "object",
        "properties": {"a": {"enum": ["x", None]}, "b": {"const": True}},
        "required": ["a"],
        "additionalProperties": {"type": "boolean"},
    },
    {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    {"required": ["k"]},
    {"title": "t", "description": "d", "type": "object", "properties": {"v": {"const": "on"}}},
]

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-20, 20)
    | st.floats(-20, 20, allow_nan=False)
    | st.sampled_from(["", "a", "ab", "abcd", "x", "on", "b", "message", "seconds"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "a",
                    "b",
                    "k",
                    "v",
                    "message",
                    "seconds",
                    "level",
                    "topic",
                    "payload",
                    "status",
                    "headers",
                    "logged",
                    "event_id",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@pytest.mark.parametrize("schema", SCHEMAS, ids=[str(index) for index in range(len(SCHEMAS))])
@settings(max_examples=40, deadline=None)
@given(value=JSON)
def test_fast_check_never_accepts_what_jsonschema_rejects(
    schema: dict[str, Any], value: Any
) -> None:
    check = compile_check(schema)
    assert check is not None
    assert check(value) == Draft202012Validator(schema).is_valid(value)


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param(HTTP_REQUEST_INPUT, id="not_keyword"),
        pytest.param({"$ref": "#/$defs/x", "$defs": {"x": {}}}, id="ref"),
        pytest.param({"enum": [1, 2]}, id="numeric_enum"),
        pytest.param({"items": [{}]}, id="draft7_items_list"),
        pytest.param({"$schema": "http://json-schema.org/draft-04/schema#"}, id="old_draft"),
    ],
)
def test_schemas_with_other_keywords_fall_back(schema: dict[str, Any]) -> None:
    assert compile_check(schema) is None
