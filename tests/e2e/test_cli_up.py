"""`ordinaut up` as a user runs it: a subprocess in an empty directory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return env | {"LOG_FORMAT": "json", "LOG_LEVEL": "WARNING"} | extra


class Output:
    stdout = ""
    stderr = ""


@contextmanager
def running_up(workdir: Path, port: int, output: Output) -> Iterator[subprocess.Popen[str]]:
    """`ordinaut up` until the block ends; then SIGTERM, and its output lands in `output`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ordinaut", "up"],
        cwd=workdir,
        text=True,
        env=_env(UVICORN_PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        output.stdout, output.stderr = proc.communicate(timeout=30)


def _wait_live(port: int, proc: subprocess.Popen[str], timeout: float = 15.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        assert proc.poll() is None, "ordinaut up exited early"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code == 200:
                return time.monotonic() - start
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("ordinaut up did not answer /health/live in time")


def test_up_serves_and_prints_the_admin_secret_only_on_first_start(tmp_path: Path) -> None:
    port, first, second = _free_port(), Output(), Output()
    with running_up(tmp_path, port, first) as proc:
        _wait_live(port, proc)
    assert first.stdout.count("ORDINAUT_TOKEN=ord_") == 1, first.stderr
    assert (tmp_path / "ordinaut.db").exists()

    with running_up(tmp_path, port, second) as proc:
        _wait_live(port, proc)
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
