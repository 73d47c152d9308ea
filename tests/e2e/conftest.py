"""`ordinaut up` as a user starts it: a subprocess in an empty directory."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return env | {"LOG_FORMAT": "json", "LOG_LEVEL": "WARNING"} | extra


@dataclass
class UpProcess:
    """A running `ordinaut up`; stdout/stderr are filled in once it has stopped."""

    proc: subprocess.Popen[str]
    port: int
    stdout: str = ""
    stderr: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_live(self, timeout: float = 45.0) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            assert self.proc.poll() is None, "ordinaut up exited early"
            try:
                if httpx.get(f"{self.url}/health/live", timeout=1).status_code == 200:
                    return time.monotonic() - start
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("ordinaut up did not answer /health/live in time")


StartUp = Callable[..., AbstractContextManager[UpProcess]]


@pytest.fixture
def start_up() -> StartUp:
    """`with start_up(workdir, **env) as up:` runs `ordinaut up` until the block ends."""

    @contextmanager
    def start(workdir: Path, **env: str) -> Iterator[UpProcess]:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ordinaut", "up"],
            cwd=workdir,
            text=True,
            env=clean_env(UVICORN_PORT=str(port), **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        up = UpProcess(proc, port)
        try:
            yield up
        finally:
            proc.terminate()
            up.stdout, up.stderr = proc.communicate(timeout=30)

    return start


def admin_secret(output: str) -> str:
    found = re.search(r"ORDINAUT_TOKEN=(ord_\S+)", output)
    assert found, output
    return found.group(1)
