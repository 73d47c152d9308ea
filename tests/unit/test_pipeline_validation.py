"""Payload validation: every problem reported at once, each at its location."""

from __future__ import annotations

from typing import Any

import pytest

from ordinaut.core.errors import InvalidInput, NotFound
from ordinaut.pipeline.builtin_tools import builtin_tools
from ordinaut.pipeline.registry import Tool, ToolCallContext, ToolRegistry
from ordinaut.pipeline.validation import parse_pipeline, validate_payload

P = ("body", "payload")


async def _noop(args: dict[str, Any], ctx: ToolCallContext) -> dict[str, Any]:
    return {}


def _registry() -> ToolRegistry:
    registry = ToolRegistry()
    for tool in builtin_tools(None):
        registry.register(tool)
    registry.register(
        Tool(
            "web.fetch",
            "Fetch a URL.",
            {
                "type": "object",
                "properties": {
                    "url": {"type": "string"},
                    "retries": {"type": "integer"},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                "required": ["url"],
                "additionalProperties": False,
            },
            {},
            10.0,
            ("web:fetch",),
            "builtin",
            _noop,
        )
    )
    return registry


def _problems(
    payload: object, scopes: tuple[str, ...] = ("web:fetch",)
) -> dict[tuple[Any, ...], str]:
    with pytest.raises(InvalidInput) as caught:
        validate_payload(payload, _registry(), scopes)
    found: dict[tuple[Any, ...], str] = {}
    for error in caught.value.errors:
        found[error.loc] = f"{found[error.loc]} | {error.msg}" if error.loc in found else error.msg
    return found


def _echo(**extra: Any) -> dict[str, Any]:
    return {"uses": "echo.message", "with": {"message": "hi"}, **extra}


def test_valid_payload_passes_and_parses_defaults() -> None:
    payload = {
        "params": {"n": 2},
        "pipeline": [
            _echo(save_as="first"),
            {
                "uses": "web.fetch",
                "with": {"url": "${steps.first.message}"},
                "if": "params.n",
                "retry": {"max_attempts": 3, "backoff_seconds": 0.5},
                "on_error": "continue",
                "timeout_seconds": 2,
            },
        ],
    }
    validate_payload(payload, _registry(), ["web:fetch"])
    pipeline = parse_pipeline(payload, _registry(), ["web:fetch"])
    first, second = pipeline.steps
    assert (first.id, first.timeout_seconds, first.max_attempts) == ("first", 5.0, 1)
    assert (second.id, second.timeout_seconds, second.max_attempts) == ("step2", 2.0, 3)
    assert (second.backoff_seconds, second.on_error) == (0.5, "continue")
    assert second.condition is not None


@pytest.mark.parametrize(
    ("payload", "loc", "fragment"),
    [
        pytest.param([], P, "must be an object", id="not_object"),
        pytest.param({"pipeline": []}, (*P, "pipeline"), "non-empty", id="empty_pipeline"),
        pytest.param(
            {"steps": [], "pipeline": [_echo()]}, (*P, "steps"), "unknown key", id="unknown_key"
        ),
        pytest.param(
            {"params": [], "pipeline": [_echo()]}, (*P, "params"), "object", id="params_list"
        ),
        pytest.param({"pipeline": ["x"]}, (*P, "pipeline", 0), "object", id="step_not_object"),
        pytest.param(
            {"pipeline": [{"uses": "echo.mesage"}]},
            (*P, "pipeline", 0, "uses"),
            "did you mean echo.message",
            id="unknown_tool_suggests",
        ),
        pytest.param(
            {"pipeline": [{"with": {}}]},
            (*P, "pipeline", 0, "uses"),
            "must name a tool",
            id="missing_uses",
        ),
        pytest.param(
            {"pipeline": [_echo(bogus=1)]},
            (*P, "pipeline", 0, "bogus"),
            "unknown step key",
            id="unknown_step_key",
        ),
        pytest.param(
            {"pipeline": [_echo(id="a"), _echo(id="a")]},
            (*P, "pipeline", 1, "id"),
            "used twice",
            id="duplicate_id",
        ),
        pytest.param(
            {"pipeline": [_echo(save_as="a"), _echo(save_as="a", id="b")]},
            (*P, "pipeline", 1, "save_as"),
            "used twice",
            id="duplicate_save_as",
        ),
        pytest.param(
            {"pipeline": [_echo(save_as="")]},
            (*P, "pipeline", 0, "save_as"),
            "save_as",
            id="empty_save_as",
        ),
        pytest.param(
            {"pipeline": [_echo(save_as="a-b")]},
            (*P, "pipeline", 0, "save_as"),
            "save_as",
            id="save_as_not_identifier",
        ),
        pytest.param(
            {"pipeline": [{"uses": "echo.message", "with": {"message": "${params.[}"}}]},
            (*P, "pipeline", 0, "with", "message"),
            "params.[",
            id="bad_expression_named",
        ),
        pytest.param(
            {
                "pipeline": [
                    {"uses": "echo.message", "with": {"message": "${steps.later.x}"}},
                    _echo(save_as="later"),
                ]
            },
            (*P, "pipeline", 0, "with", "message"),
            "no earlier step",
            id="forward_reference",
        ),
        pytest.param(
            {"pipeline": [_echo(save_as="me", **{"with": {"message": "${steps.me}"}})]},
            (*P, "pipeline", 0, "with", "message"),
            "no earlier step",
            id="self_reference",
        ),
        pytest.param(
            {"pipeline": [_echo(**{"if": "params.n >"})]},
            (*P, "pipeline", 0, "if"),
            "params.n >",
            id="bad_condition",
        ),
        pytest.param(
            {"pipeline": [_echo(**{"if": "steps.x"})]},
            (*P, "pipeline", 0, "if"),
            "no earlier step",
            id="condition_forward_reference",
        ),
        pytest.param(
            {"pipeline": [_echo(**{"if": True})]},
            (*P, "pipeline", 0, "if"),
            "string",
            id="condition_not_string",
        ),
        pytest.param(
            {"pipeline": [{"uses": "echo.message"}]},
            (*P, "pipeline", 0, "with"),
            "'message' is a required property",
            id="required_arg_missing",
        ),
        pytest.param(
            {"pipeline": [{"uses": "web.fetch", "with": {"url": 5}}]},
            (*P, "pipeline", 0, "with", "url"),
            "is not of type 'string'",
            id="literal_type",
        ),
        pytest.param(
            {"pipeline": [{"uses": "web.fetch", "with": {"url": "u", "x": 1}}]},
            (*P, "pipeline", 0, "with"),
            "Additional properties",
            id="extra_arg",
        ),
        pytest.param(
            {"pipeline": [{"uses": "web.fetch", "with": {"url": "u", "headers": {"a": 1}}}]},
            (*P, "pipeline", 0, "with", "headers", "a"),
            "is not of type",
            id="nested_literal",
        ),
        pytest.param(
            {"pipeline": [_echo(**{"with": []})]},
            (*P, "pipeline", 0, "with"),
            "object",
            id="with_not_object",
        ),
        pytest.param(
            {"pipeline": [_echo(timeout_seconds=0)]},
            (*P, "pipeline", 0, "timeout_seconds"),
            "> 0",
            id="zero_timeout",
        ),
        pytest.param(
            {"pipeline": [_echo(timeout_seconds="5")]},
            (*P, "pipeline", 0, "timeout_seconds"),
            "number",
            id="timeout_text",
        ),
        pytest.param(
            {"pipeline": [_echo(retry={"max_attempts": 0})]},
            (*P, "pipeline", 0, "retry", "max_attempts"),
            "1..10",
            id="zero_attempts",
        ),
        pytest.param(
            {"pipeline": [_echo(retry={"max_attempts": 2, "backoff_seconds": -1})]},
            (*P, "pipeline", 0, "retry", "backoff_seconds"),
            ">= 0",
            id="negative_backoff",
        ),
        pytest.param(
            {"pipeline": [_echo(retry={"tries": 2})]},
            (*P, "pipeline", 0, "retry", "tries"),
            "unknown retry key",
            id="unknown_retry_key",
        ),
        pytest.param(
            {"pipeline": [_echo(on_error="ignore")]},
            (*P, "pipeline", 0, "on_error"),
            "'fail' or 'continue'",
            id="bad_on_error",
        ),
        pytest.param(
            {"pipeline": [_echo(id="has space")]}, (*P, "pipeline", 0, "id"), "id must", id="bad_id"
        ),
    ],
)
def test_problem_is_reported_at_its_location(
    payload: object, loc: tuple[Any, ...], fragment: str
) -> None:
    problems = _problems(payload)
    assert loc in problems, problems
    assert fragment in problems[loc]


def test_template_values_skip_type_checks_but_not_required_keys() -> None:
    registry = _registry()
    ok = {"pipeline": [{"uses": "web.fetch", "with": {"url": "u", "retries": "${params.n}"}}]}
    validate_payload(ok, registry, ["web:fetch"])
    missing = {"pipeline": [{"uses": "web.fetch", "with": {"retries": "${params.n}"}}]}
    assert "'url' is a required property" in _problems(missing)[(*P, "pipeline", 0, "with")]


def test_every_problem_is_reported_at_once() -> None:
    payload = {
        "pipeline": [
            {"uses": "nope.tool"},
            {"uses": "echo.message", "with": {"message": "${bad(}"}, "on_error": "x"},
            {"uses": "web.fetch", "with": {"url": 1}, "retry": {"max_attempts": 99}},
        ]
    }
    problems = _problems(payload)
    assert set(problems) == {
        (*P, "pipeline", 0, "uses"),
        (*P, "pipeline", 1, "with", "message"),
        (*P, "pipeline", 1, "on_error"),
        (*P, "pipeline", 2, "with", "url"),
        (*P, "pipeline", 2, "retry", "max_attempts"),
    }


def test_scopes_limit_tools_and_admin_implies_all() -> None:
    payload = {"pipeline": [{"uses": "web.fetch", "with": {"url": "u"}}]}
    problems = _problems(payload, scopes=("tasks:write",))
    assert "web:fetch" in problems[(*P, "pipeline", 0, "uses")]
    validate_payload(payload, _registry(), ["admin"])


def test_loc_prefix_is_configurable() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_payload({"pipeline": [{"uses": "x.y"}]}, _registry(), [], loc_prefix=("payload",))
    assert caught.value.errors[0].loc == ("payload", "pipeline", 0, "uses")


def test_registry_lookup_and_visibility() -> None:
    registry = _registry()
    with pytest.raises(NotFound, match=r"did you mean echo\.message"):
        registry.get("echo.mesage")
    assert "web.fetch" in registry.names()
    visible = [tool.name for tool in registry.visible_to(["tasks:read"])]
    assert "web.fetch" not in visible
    assert "echo.message" in visible
    assert "events.publish" in [tool.name for tool in registry.visible_to(["events:publish"])]
    description = registry.describe(registry.get("web.fetch"))
    assert description["scopes"] == ["web:fetch"]
    assert description["transport"] == "builtin"
    assert set(description) == {
        "name",
        "description",
        "input_schema",
        "output_schema",
        "timeout_seconds",
        "scopes",
        "transport",
    }
