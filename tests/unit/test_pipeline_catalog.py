"""The tools catalog: JSON or YAML, secrets from the environment, clear errors at startup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ordinaut.core.errors import ConfigurationError
from ordinaut.core.settings import Settings
from ordinaut.pipeline import build_registry, load_catalog

BUILTINS = ["debug.log", "echo.message", "events.publish", "http.request", "time.sleep"]


async def test_without_a_catalog_the_registry_holds_the_builtins() -> None:
    registry = await build_registry(Settings())
    assert registry.names() == BUILTINS
    assert {registry.get(name).transport for name in BUILTINS} == {"builtin"}


def test_yaml_and_json_catalogs_load_the_same(tmp_path: Path) -> None:
    spec = {
        "http_tools": [
            {
                "name": "crm.contact",
                "method": "GET",
                "url": "https://crm.example.com/c/{id}",
                "headers": {"Authorization": "Bearer ${env:CRM_TOKEN}"},
            }
        ],
        "mcp_servers": [{"name": "calendar", "url": "http://127.0.0.1:9000/mcp", "timeout": 7}],
    }
    (tmp_path / "tools.json").write_text(json.dumps(spec))
    (tmp_path / "tools.yaml").write_text(
        "http_tools:\n"
        "  - name: crm.contact\n"
        "    method: GET\n"
        "    url: https://crm.example.com/c/{id}\n"
        "    headers: {Authorization: 'Bearer ${env:CRM_TOKEN}'}\n"
        "mcp_servers:\n"
        "  - {name: calendar, url: 'http://127.0.0.1:9000/mcp', timeout: 7}\n"
    )
    env = {"CRM_TOKEN": "tok"}
    from_json = load_catalog(tmp_path / "tools.json", env)
    from_yaml = load_catalog(tmp_path / "tools.yaml", env)
    assert from_json == from_yaml
    assert from_json.http_tools[0].headers == {"Authorization": "Bearer tok"}
    assert from_json.mcp_servers[0].timeout_seconds == 7


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param(
            "http_tools: [{name: x, url: 'https://a'}]", "name", id="name_without_namespace"
        ),
        pytest.param("tools: []", "tools", id="unknown_section"),
        pytest.param("mcp_servers: [{name: m, url: 'ftp://x'}]", "url", id="bad_url"),
        pytest.param(
            "http_tools: [{name: a.b, url: 'https://a', headers: {A: '${env:NOPE_X}'}}]",
            "NOPE_X is unset",
            id="missing_env",
        ),
        pytest.param("http_tools: [", "tools.yaml", id="yaml_syntax"),
    ],
)
def test_bad_catalogs_stop_startup_with_a_clear_error(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = tmp_path / "tools.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=fragment):
        load_catalog(path, {})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param(
            "http_tools: [{name: echo.message, url: 'https://a'}]",
            "declared twice",
            id="duplicate_name",
        ),
        pytest.param(
            "http_tools: [{name: a.b, url: 'https://a', input_schema: {type: 5}}]",
            "invalid JSON Schema",
            id="bad_schema",
        ),
    ],
)
async def test_bad_tools_stop_startup(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "tools.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=fragment):
        await build_registry(Settings(TOOLS_CATALOG=str(path)))


def test_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"missing\.yaml"):
        load_catalog(tmp_path / "missing.yaml")
