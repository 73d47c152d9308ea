"""ExtensionManager over the fixture extensions: every capability, every way to break."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from ordinaut.core.errors import NotFound
from ordinaut.core.settings import Settings
from ordinaut.events import InMemoryBus
from ordinaut.plugins import Backoff, ExtensionManager, ExtensionStatus

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "extensions"
FAST = Backoff(initial=0.01, maximum=0.05)


async def wait_until(check: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


def make_manager(**settings: Any) -> ExtensionManager:
    config = Settings(ORDINAUT_EXT_PATHS=[FIXTURES], **settings)
    return ExtensionManager(config, InMemoryBus(), builtin_root=None, backoff=FAST)


@pytest.fixture
async def manager() -> AsyncIterator[ExtensionManager]:
    made = make_manager()
    made.discover()
    await made.start()
    yield made
    await made.shutdown()


def described(manager: ExtensionManager) -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in manager.describe()}


async def test_discovery_lists_every_fixture_without_importing() -> None:
    manager = make_manager()

    assert manager.discover() == [
        "bad_manifest", "broken-import", "broken-setup", "crashing-job",
        "denied", "disabled", "everything", "lazy",
    ]  # fmt: skip
    assert all(e["status"] in ("discovered", "error") for e in manager.describe())
    assert manager.target("everything") is None, "nothing is imported before load"


async def test_describe_reports_each_extension(manager: ExtensionManager) -> None:
    entries = described(manager)

    assert entries["everything"] == {
        "id": "everything",
        "name": "Everything",
        "version": "1.2.3",
        "description": "Uses every capability, for the framework's tests.",
        "source": "path",
        "enabled": True,
        "eager": True,
        "grants": sorted(
            ["BACKGROUND_TASKS", "EVENTS_PUB", "EVENTS_SUB", "ROUTES", "STATIC", "TOOLS"]
        ),
        "capabilities": sorted(
            ["BACKGROUND_TASKS", "EVENTS_PUB", "EVENTS_SUB", "ROUTES", "STATIC", "TOOLS"]
        ),
        "status": "loaded",
        "error": None,
        "requests": 0,
        "avg_latency_ms": None,
    }
    assert entries["lazy"]["status"] == "discovered", "lazy extensions wait for a request"
    assert entries["disabled"]["enabled"] is False
    assert entries["disabled"]["status"] == "discovered"


@pytest.mark.parametrize(
    ("ext_id", "phase", "fragment"),
    [
        pytest.param("bad_manifest", "manifest", "'FLY' is not one of", id="bad_manifest"),
        pytest.param(
            "broken-import",
            "import",
            "No module named 'ordinaut_no_such_dependency'",
            id="import_error",
        ),
        pytest.param("broken-setup", "setup", "RuntimeError: setup exploded", id="setup_exception"),
        pytest.param("denied", "setup", "may not use TOOLS", id="denied_capability"),
    ],
)
async def test_broken_extensions_show_error_with_phase(
    manager: ExtensionManager, ext_id: str, phase: str, fragment: str
) -> None:
    entry = described(manager)[ext_id]

    assert entry["status"] == "error"
    assert entry["error"]["phase"] == phase
    assert fragment in entry["error"]["message"]
    assert described(manager)["everything"]["status"] == "loaded", "others are unaffected"


async def test_failed_setup_stops_the_jobs_it_started(manager: ExtensionManager) -> None:
    assert manager.context("broken-setup") is None
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("ext:broken-setup:")] == []


async def test_crashing_background_job_is_restarted_and_shown(manager: ExtensionManager) -> None:
    module: Any = manager.target("crashing-job")
    await wait_until(lambda: module.state["starts"] >= 3)

    entry = described(manager)["crashing-job"]
    assert entry["status"] == "error"
    assert entry["error"]["phase"] == "background"
    assert "background job 'worker' crashed" in entry["error"]["message"]
    assert "ValueError: crash number" in entry["error"]["message"]
    assert described(manager)["everything"]["status"] == "loaded"


async def test_everything_uses_each_capability(manager: ExtensionManager) -> None:
    module: Any = manager.target("everything")
    context = manager.context("everything")
    assert context is not None

    (tool,) = manager.tools()
    assert tool.name == "ext.everything.greet"
    assert await tool({"name": "Ada"}) == {"greeting": "hello, Ada"}
    await wait_until(lambda: module.state["ticks"] >= 2)  # periodic job
    await context.events.publish("demo", "notes", "note.added", {"text": "hi"})
    await wait_until(lambda: module.state["heard"] == [{"text": "hi"}])  # subscriber job
    assert module.state["started"] is True  # router startup hook
    assert {route.path for route in context.router.routes} >= {"/", "/static/{file_path:path}"}


async def test_load_is_once_and_lazy_loads_on_demand(manager: ExtensionManager) -> None:
    results = await asyncio.gather(*(manager.load("lazy") for _ in range(5)))

    assert set(results) == {ExtensionStatus.LOADED}
    module: Any = manager.target("lazy")
    assert module.state == {"setups": 1, "started": 1}
    assert await manager.load("broken-setup") is ExtensionStatus.ERROR


async def test_unknown_and_disabled_cannot_be_loaded(manager: ExtensionManager) -> None:
    with pytest.raises(NotFound, match="unknown"):
        await manager.load("nope")
    with pytest.raises(NotFound, match="disabled"):
        await manager.load("disabled")


async def test_configuration_enables_and_disables() -> None:
    manager = make_manager(ORDINAUT_EXTENSIONS="disabled,lazy", ORDINAUT_EXTENSIONS_DISABLED="lazy")
    manager.discover()

    enabled = {e["id"] for e in manager.describe() if e["enabled"]}
    assert enabled == {"disabled"}
    await manager.start()
    try:
        assert described(manager)["disabled"]["status"] == "loaded"
        assert described(manager)["everything"]["status"] == "discovered"
    finally:
        await manager.shutdown()


async def test_shutdown_stops_jobs_runs_hooks_and_teardown() -> None:
    manager = make_manager(ORDINAUT_EXTENSIONS="everything")
    await manager.start()
    module: Any = manager.target("everything")
    await manager.shutdown()

    assert module.state["stopped"] is True
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("ext:everything:")] == []
    assert manager.tools() == []


def write_dist(root: Path, name: str, entry_points: str, module: str, code: str) -> None:
    dist = root / f"{name}-1.4.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.4.0\nSummary: A plugin for tests\n"
    )
    (dist / "entry_points.txt").write_text(f"[ordinaut.plugins]\n{entry_points}\n")
    (root / f"{module}.py").write_text(code)


PLUGIN_CODE = """
requires = ["TOOLS"]

def setup(ctx):
    ctx.tools.register("ping", lambda arguments: {"pong": True}, description="pong")
"""


async def test_entry_point_plugins_are_found_and_granted_by_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_dist(
        tmp_path,
        "ordinaut_test_plug",
        "epplug = ordinaut_test_epplug",
        "ordinaut_test_epplug",
        PLUGIN_CODE,
    )
    write_dist(
        tmp_path,
        "ordinaut_test_ungranted",
        "ungranted = ordinaut_test_ungranted",
        "ordinaut_test_ungranted",
        PLUGIN_CODE,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = Settings(ORDINAUT_EXTENSIONS="epplug,ungranted")
    manager = ExtensionManager(
        settings, InMemoryBus(), builtin_root=None, plugin_grants={"epplug": ["TOOLS"]}
    )

    await manager.start()
    try:
        entries = described(manager)
        assert entries["epplug"]["source"] == "entry_point"
        assert (entries["epplug"]["name"], entries["epplug"]["version"]) == (
            "ordinaut_test_plug",
            "1.4.0",
        )
        assert entries["epplug"]["description"] == "A plugin for tests"
        assert entries["epplug"]["status"] == "loaded"
        assert [t.name for t in manager.tools()] == ["ext.epplug.ping"]
        assert entries["ungranted"]["status"] == "error"
        assert (
            "configuration (ORDINAUT_EXT_GRANTS) does not grant it"
            in entries["ungranted"]["error"]["message"]
        )
    finally:
        await manager.shutdown()
        for name in ("ordinaut_test_epplug", "ordinaut_test_ungranted"):
            sys.modules.pop(name, None)


async def test_builtin_extensions_are_found_inside_their_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "ordinaut_test_builtins"
    (package / "hello").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "hello" / "__init__.py").write_text("")
    manifest = {"id": "hello", "name": "Hello", "version": "1", "module": "plugin", "eager": True}
    (package / "hello" / "extension.json").write_text(json.dumps({**manifest, "grants": ["TOOLS"]}))
    (package / "hello" / "plugin.py").write_text(PLUGIN_CODE)
    monkeypatch.syspath_prepend(str(tmp_path))
    manager = ExtensionManager(
        Settings(), InMemoryBus(), builtin_root=package, builtin_package="ordinaut_test_builtins"
    )

    await manager.start()
    try:
        assert described(manager)["hello"]["source"] == "builtin"
        assert described(manager)["hello"]["status"] == "loaded"
        assert sys.modules["ordinaut_test_builtins.hello.plugin"] is manager.target("hello")
    finally:
        await manager.shutdown()
        for name in [n for n in sys.modules if n.startswith("ordinaut_test_builtins")]:
            del sys.modules[name]
