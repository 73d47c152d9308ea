"""The `ordinaut` command as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ENV = {"LOG_FORMAT": "json", "LOG_LEVEL": "WARNING"}


def _env(**extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return env | ENV | extra


def test_up_serves_and_prints_the_admin_secret_only_on_first_start(
    tmp_path: Path, start_up
) -> None:  # type: ignore[no-untyped-def]
    with start_up(tmp_path) as first:
        first.wait_live()
    assert first.stdout.count("ORDINAUT_TOKEN=ord_") == 1, first.stderr
    assert (tmp_path / "ordinaut.db").exists()

    with start_up(tmp_path) as second:
        second.wait_live()
    assert "listening on" in second.stdout, second.stderr
    assert "ORDINAUT_TOKEN" not in second.stdout


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("postgresql://nobody@127.0.0.1:1/none", "database unreachable", id="down"),
        pytest.param("mysql://x@y/z", "supports postgresql:// and sqlite:///", id="dialect"),
        pytest.param("::not a url::", "is not a database URL", id="garbage"),
    ],
)
def test_bad_database_url_is_one_line_not_a_traceback(
    tmp_path: Path, url: str, expected: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ordinaut", "migrate"],
        cwd=tmp_path,
        text=True,
        env=_env(DATABASE_URL=url),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_production_refuses_the_default_jwt_secret_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ordinaut", "up"],
        cwd=tmp_path,
        text=True,
        env=_env(ENVIRONMENT="production"),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "JWT_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_agent_create(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "ordinaut"]
    assert subprocess.run([*run, "version"], capture_output=True, text=True).stdout.strip()
    subprocess.run([*run, "migrate"], cwd=tmp_path, env=_env(), check=True, capture_output=True)
    created = subprocess.run(
        [*run, "agent", "create", "bot", "--scope", "tasks:read"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "agent_secret=ord_" in created.stdout
    refused = subprocess.run(
        [*run, "agent", "create", "bot2", "--scope", "nope"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2
    assert "unknown scope(s): nope" in refused.stderr


def test_up_runs_a_registered_scheduler_and_worker(tmp_path: Path, start_up) -> None:  # type: ignore[no-untyped-def]
    import httpx

    with start_up(tmp_path, ORDINAUT_ADMIN_SECRET=SECRET) as up:
        up.wait_live()
        headers = {"Authorization": f"Bearer {SECRET}"}
        health = httpx.get(f"{up.url}/health", headers=headers, timeout=10).json()
    checks = {check["name"]: check for check in health["checks"]}
    assert checks["scheduler"]["status"] == "healthy", health
    assert checks["workers"]["status"] == "healthy", health
    assert health["status"] == "healthy"


SECRET = "ord_0123456789abcdef_a-fixed-secret-for-tests-only"
