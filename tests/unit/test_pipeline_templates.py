"""Templates and conditions: typed rendering, text insertion, `now` offsets, escapes, truthiness."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ordinaut.pipeline.conditions import compile_condition, condition_holds, is_truthy
from ordinaut.pipeline.expressions import ExpressionError, compile_expression
from ordinaut.pipeline.templates import parse_template, render

NOW = datetime(2026, 3, 2, 7, 0, 0, tzinfo=UTC)
DATA: dict[str, Any] = {
    "now": "2026-03-02T07:00:00Z",
    "params": {
        "name": "John",
        "count": 5,
        "ratio": 2.5,
        "flag": True,
        "tags": ["a", "b"],
        "user": {"name": "Zoë", "langs": ["pt", "en"]},
        "empty": [],
        "nothing": None,
        "zero": 0,
    },
    "steps": {"cal": {"events": [{"t": 1}, {"t": 2}, {"t": 3}]}},
    "task": {"id": "t-1", "title": "Briefing"},
    "run": {"id": "r-1", "attempt": 1},
    "event": None,
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("Hello ${params.name}", "Hello John", id="text_insert"),
        pytest.param("${params.count}", 5, id="whole_keeps_number"),
        pytest.param("${params.ratio}", 2.5, id="whole_keeps_float"),
        pytest.param("${params.flag}", True, id="whole_keeps_bool"),
        pytest.param("${params.tags}", ["a", "b"], id="whole_keeps_list"),
        pytest.param(
            "${params.user}", {"name": "Zoë", "langs": ["pt", "en"]}, id="whole_keeps_object"
        ),
        pytest.param("${length(steps.cal.events)}", 3, id="function"),
        pytest.param("${params.missing}", None, id="whole_missing_is_null"),
        pytest.param("[${params.missing}]", "[]", id="text_missing_is_empty"),
        pytest.param("n=${params.count}", "n=5", id="text_number"),
        pytest.param("on=${params.flag}", "on=true", id="text_bool_is_json"),
        pytest.param(
            "u=${params.user}", 'u={"name":"Zoë","langs":["pt","en"]}', id="text_object_compact"
        ),
        pytest.param("t=${params.tags}", 't=["a","b"]', id="text_list_compact"),
        pytest.param("${params.name}${params.count}", "John5", id="two_expressions"),
        pytest.param("${ params.name }", "John", id="spaces_inside"),
        pytest.param("cost $5 and $${params.name}", "cost $5 and ${params.name}", id="escape"),
        pytest.param("$$${params.name}", "$${params.name}", id="escape_scans_left_to_right"),
        pytest.param("no template", "no template", id="plain"),
        pytest.param('${`{"a": "}"}`.a}', "}", id="brace_inside_literal"),
        pytest.param("${{n: params.name}}", {"n": "John"}, id="multiselect_braces"),
        pytest.param("${'x}y'}", "x}y", id="brace_inside_raw_string"),
        pytest.param("${now}", "2026-03-02T07:00:00Z", id="now"),
        pytest.param("${now+24h}", "2026-03-03T07:00:00Z", id="now_plus_hours"),
        pytest.param("${now-15m}", "2026-03-02T06:45:00Z", id="now_minus_minutes"),
        pytest.param("${now+2w}", "2026-03-16T07:00:00Z", id="now_plus_weeks"),
        pytest.param("${now + 1d}", "2026-03-03T07:00:00Z", id="now_with_spaces"),
        pytest.param("${now-30s}", "2026-03-02T06:59:30Z", id="now_seconds"),
        pytest.param(
            "from ${now} to ${now+1h}",
            "from 2026-03-02T07:00:00Z to 2026-03-02T08:00:00Z",
            id="now_in_text",
        ),
        pytest.param("${task.title}/${run.attempt}", "Briefing/1", id="task_and_run"),
        pytest.param("${event.payload.x}", None, id="no_event_is_null"),
    ],
)
def test_render_string(template: str, expected: Any) -> None:
    assert render(template, DATA, NOW) == expected


def test_render_recurses_through_dicts_and_lists_keeping_keys() -> None:
    value = {"${params.name}": ["${params.count}", {"deep": "hi ${params.name}"}], "n": 1}
    assert render(value, DATA, NOW) == {
        "${params.name}": [5, {"deep": "hi John"}],
        "n": 1,
    }


def test_inserted_values_are_never_rendered_again() -> None:
    data = {**DATA, "params": {"evil": "${params.secret}", "secret": "s3cret"}}
    assert render("${params.evil}", data, NOW) == "${params.secret}"
    assert render("x ${params.evil}", data, NOW) == "x ${params.secret}"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Olá, 世界 🌍 — naïve café", id="unicode"),
        pytest.param("x" * 10_000, id="ten_thousand_chars"),
        pytest.param("é" * 10_000 + "${not a template because inserted}", id="long_unicode"),
    ],
)
def test_values_are_preserved(value: str) -> None:
    data = {**DATA, "params": {"v": value}}
    assert render("${params.v}", data, NOW) == value
    assert render("<${params.v}>", data, NOW) == f"<{value}>"


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        pytest.param("${params.[}", "params.[", id="syntax"),
        pytest.param("${}", "empty", id="empty"),
        pytest.param("${params.name", "unterminated", id="unterminated"),
        pytest.param("${nope(params.name)}", "unknown function nope()", id="unknown_function"),
        pytest.param("${length(params.a, params.b)}", "takes 1 argument", id="arity"),
        pytest.param("${param.name}", "reads param", id="unknown_root"),
        pytest.param("${now+3y}", "now+3y", id="bad_now_unit"),
    ],
)
def test_invalid_expressions_are_named(source: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_template(source)
    assert fragment in str(caught.value).lower()


def test_step_references_are_collected_only_from_the_root() -> None:
    expression = compile_expression("length(steps.cal.events) > `0` && steps.mail[0].x")
    assert expression.step_refs == {"cal", "mail"}
    filtered = compile_expression("params.items[?steps.x == `1`]")
    assert filtered.step_refs == frozenset()


def test_runtime_type_error_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="length"):
        render("${length(steps.nope.events)}", DATA, NOW)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        pytest.param("params.count > `3`", True, id="number_compare_true"),
        pytest.param("params.count > `7`", False, id="number_compare_false"),
        pytest.param("${params.count > `3`}", True, id="wrapped"),
        pytest.param("params.empty", False, id="empty_list_false"),
        pytest.param("params.nothing", False, id="null_false"),
        pytest.param("params.missing", False, id="missing_false"),
        pytest.param("params.zero", True, id="zero_is_true_in_jmespath"),
        pytest.param("params.tags", True, id="list_true"),
        pytest.param('`""`', False, id="empty_string_false"),
        pytest.param("`{}`", False, id="empty_object_false"),
        pytest.param("params.flag && length(steps.cal.events) == `3`", True, id="and"),
        pytest.param("!params.flag", False, id="not"),
        pytest.param("contains(params.tags, 'b')", True, id="contains"),
    ],
)
def test_conditions(condition: str, expected: bool) -> None:
    assert condition_holds(compile_condition(condition), DATA, NOW) is expected


@pytest.mark.parametrize(
    "condition",
    [
        pytest.param("params.count >", id="syntax"),
        pytest.param("x ${params.count}", id="text_around"),
        pytest.param("${a}${b}", id="two_expressions"),
    ],
)
def test_invalid_conditions(condition: str) -> None:
    with pytest.raises(ExpressionError):
        compile_condition(condition)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (False, False),
        ("", False),
        ([], False),
        ({}, False),
        (0, True),
        (0.0, True),
        ("0", True),
        ([0], True),
        ({"a": None}, True),
        (True, True),
    ],
)
def test_truthiness(value: Any, expected: bool) -> None:
    assert is_truthy(value) is expected
