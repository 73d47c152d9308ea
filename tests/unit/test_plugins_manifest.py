"""Manifests: JSON Schema names every problem with its location; valid ones become models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ordinaut.core.errors import InvalidInput
from ordinaut.plugins import Capability, parse_manifest, read_manifest

VALID: dict[str, Any] = {"id": "hello", "name": "Hello", "version": "1.0.0", "module": "plugin"}


def test_minimal_manifest_gets_defaults() -> None:
    manifest = parse_manifest(VALID)

    assert manifest.id == "hello"
    assert manifest.enabled is True
    assert manifest.eager is False
    assert manifest.grants == frozenset()
    assert manifest.description == ""


def test_full_manifest() -> None:
    document = {**VALID, "description": "d", "enabled": False, "eager": True}
    document["grants"] = ["ROUTES", "EVENTS_SUB"]

    manifest = parse_manifest(document)
    assert manifest.grants == {Capability.ROUTES, Capability.EVENTS_SUB}
    assert (manifest.enabled, manifest.eager) == (False, True)


@pytest.mark.parametrize(
    ("change", "loc", "fragment"),
    [
        pytest.param({"id": "Hello World"}, ("id",), "does not match", id="id_with_space"),
        pytest.param({"id": "a.b"}, ("id",), "does not match", id="id_with_dot"),
        pytest.param({"id": "ext:x"}, ("id",), "does not match", id="id_with_colon"),
        pytest.param({"module": "a-b"}, ("module",), "does not match", id="module_not_python"),
        pytest.param({"grants": ["FLY"]}, ("grants", 0), "is not one of", id="unknown_grant"),
        pytest.param({"grants": "ROUTES"}, ("grants",), "is not of type", id="grants_not_list"),
        pytest.param({"eager": "yes"}, ("eager",), "is not of type", id="eager_not_bool"),
        pytest.param({"colour": "red"}, (), "Additional properties", id="unknown_key"),
        pytest.param({"version": None}, ("version",), "is not of type", id="version_null"),
        pytest.param({"public": ["static/*"]}, ("public", 0), "does not match", id="public_rel"),
        pytest.param({"public": ["/a*"]}, ("public", 0), "does not match", id="public_glob"),
    ],
)
def test_invalid_manifest_names_the_field(
    change: dict[str, Any], loc: tuple[str | int, ...], fragment: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_manifest({**VALID, **change})

    assert [e.loc for e in caught.value.errors] == [loc]
    assert fragment in caught.value.errors[0].msg


@pytest.mark.parametrize(
    ("path", "public"),
    [
        pytest.param("", True, id="root"),
        pytest.param("/", True, id="root_slash"),
        pytest.param("static/app.js", True, id="below_folder"),
        pytest.param("static/css/site.css", True, id="deeper"),
        pytest.param("static", False, id="only_what_is_below"),
        pytest.param("static/../plugin.py", False, id="dot_dot"),
        pytest.param("statics/x", False, id="prefix_is_not_a_folder"),
        pytest.param("api/tasks", False, id="unlisted"),
    ],
)
def test_public_paths_are_exact_or_a_folder(path: str, public: bool) -> None:
    manifest = parse_manifest({**VALID, "public": ["/", "/static/*"]})

    assert manifest.is_public(path) is public


def test_missing_fields_are_all_reported() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_manifest({"id": "x"})

    messages = " ".join(e.msg for e in caught.value.errors)
    for name in ("name", "version", "module"):
        assert f"'{name}' is a required property" in messages


def test_read_manifest_reports_bad_json_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "extension.json"
    path.write_text("{not json", encoding="utf-8")

    with pytest.raises(InvalidInput, match="unreadable manifest"):
        read_manifest(path)
    path.write_text(json.dumps(VALID), encoding="utf-8")
    assert read_manifest(path).name == "Hello"
