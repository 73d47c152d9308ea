"""API benchmark: latency of POST /tasks and GET /tasks/{id}, and the rate one process sustains.

    .venv/bin/python bench/api.py [--pg postgresql://postgres@localhost/postgres]
        [--rate 200] [--seconds 10] [--clients 32] [--burst-seconds 5]

A fresh PostgreSQL database is created and migrated, an agent is created, and `ordinaut api`
runs in a subprocess on 127.0.0.1 (one process, rate limit off). Clients authenticate with the
agent's secret: the server verifies it with Argon2 once, then its verified-secret cache answers.

- steady: an open loop sends `--rate` requests per second for `--seconds`, alternating
  POST /tasks and GET /tasks/{id} of a task created earlier; latency is from each request's
  planned send instant to its response, so a server that falls behind is charged for it.
- saturation: `--clients` closed-loop clients send the same mix as fast as they can for
  `--burst-seconds`; the completed requests per second is the rate one API process sustains.
Target: steady p99 < 10 ms at 200 requests/s. The client shares the machine with the server,
so the numbers are an upper bound on the server's own latency. The database is dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from ordinaut.core.clock import SystemClock
from ordinaut.services.agents import ALL_SCOPES, create_agent
from ordinaut.store.engine import Store
from ordinaut.store.migrate import upgrade

TARGET_P99_MS = 10.0
TASK = {
    "title": "bench",
    "schedule_kind": "cron",
    "schedule_expr": "0 9 * * 1-5",
    "timezone": "Europe/Chisinau",
    "payload": {"pipeline": [{"uses": "echo.message", "with": {"message": "${params.who}"}}]},
}


@dataclass
class Samples:
    """Latencies in ms per request kind, and the failures seen."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"POST": [], "GET": []})
    errors: int = 0

    def add(self, kind: str, started: float, response: Reply) -> None:
        if response.status_code >= 300:
            self.errors += 1
            return
        self.latencies[kind].append((time.perf_counter() - started) * 1000)


@dataclass(frozen=True)
class Reply:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


class LeanClient:
    """A minimal HTTP/1.1 keep-alive client for the load itself.

    httpx spends a few ms of CPU per request, and the client shares the 2 cores with the server:
    with it, the benchmark measured mostly its own client. This one writes the request bytes and
    reads a Content-Length response, nothing more (the API always sends one).
    """

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, method: str, path: str, body: Any = None) -> Reply:
        data = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{self.head}"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        if self.idle:  # the server closes keep-alive connections idle for 5 s: retry those
            with contextlib.suppress(ConnectionError):
                return await self._exchange(self.idle.pop(), head.encode() + data)
        return await self._exchange(await self._connect(), head.encode() + data)

    async def _exchange(
        self, stream: tuple[asyncio.StreamReader, asyncio.StreamWriter], message: bytes
    ) -> Reply:
        reader, writer = stream
        try:
            writer.write(message)
            reply = await self._read(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            writer.close()
            raise ConnectionError(str(exc)) from exc
        self.idle.append(stream)
        return reply

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Reply:
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return Reply(status, await reader.readexactly(length) if length else b"")

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def create_database(admin_url: str) -> tuple[str, str]:
    name = f"ordinaut_bench_api_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin_url.rpartition('/')[0]}/{name}"
    upgrade(url)
    return name, url


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def make_agent(url: str) -> str:
    store = Store(url)
    try:
        async with store.transaction() as conn:
            issued = await create_agent(conn, name="bench", scopes=ALL_SCOPES, clock=SystemClock())
        return issued.secret
    finally:
        await store.dispose()


def start_api(url: str, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "DATABASE_URL": url,
        "UVICORN_HOST": "127.0.0.1",
        "UVICORN_PORT": str(port),
        "RATE_LIMIT_PER_SECOND": "0",
        "LOG_LEVEL": "WARNING",
        "ENVIRONMENT": "development",
    }
    command = [sys.executable, "-m", "ordinaut", "api"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


async def wait_until_up(client: httpx.AsyncClient, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (await client.get("/health/live")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the API did not answer within {timeout}s")


class Mix:
    """Alternates POST /tasks with GET /tasks/{id} of the tasks created so far."""

    def __init__(self, client: LeanClient, samples: Samples) -> None:
        self.client = client
        self.samples = samples
        self.ids: list[str] = []
        self.count = 0

    async def one(self, started: float) -> None:
        try:
            await self._one(started)
        except ConnectionError:  # e.g. a keep-alive connection the server just closed
            self.samples.errors += 1

    async def _one(self, started: float) -> None:
        self.count += 1
        if self.count % 2 or not self.ids:
            response = await self.client.request("POST", "/tasks", TASK)
            if response.status_code == 201:
                self.ids.append(response.json()["id"])
            self.samples.add("POST", started, response)
        else:
            task_id = self.ids[self.count % len(self.ids)]
            reply = await self.client.request("GET", f"/tasks/{task_id}")
            self.samples.add("GET", started, reply)


async def steady(mix: Mix, rate: float, seconds: float) -> float:
    """Open loop: request i is planned at start + i/rate; returns the achieved request rate."""
    total = int(rate * seconds)
    start = time.perf_counter()
    pending: set[asyncio.Task[None]] = set()
    for i in range(total):
        planned = start + i / rate
        delay = planned - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(mix.one(planned))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    return total / (time.perf_counter() - start)


async def saturate(mix: Mix, clients: int, seconds: float) -> float:
    """Closed loop: `clients` workers back to back; returns completed requests per second."""
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await mix.one(time.perf_counter())
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return done / (time.perf_counter() - start)


def table(title: str, samples: Samples, rate: float) -> str:
    lines = [title, f"{'request':<18}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}"]
    for kind, path in (("POST", "POST /tasks"), ("GET", "GET /tasks/{id}")):
        values = samples.latencies[kind]
        lines.append(
            f"{path:<18}{len(values):>8}{percentile(values, 0.5):>10.2f}"
            f"{percentile(values, 0.99):>10.2f}{max(values, default=float('nan')):>10.2f}"
        )
    lines.append(f"rate {rate:.0f} req/s, errors {samples.errors}")
    return "\n".join(lines)


async def run(args: argparse.Namespace, url: str, secret: str) -> int:
    port = free_port()
    server = start_api(url, port)
    client = LeanClient(port, {"Authorization": f"Bearer {secret}"})
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as probe:
            await wait_until_up(probe)
        await steady(Mix(client, Samples()), 100, 1)  # warm-up: secret cache, pools
        calm = Samples()
        achieved = await steady(Mix(client, calm), args.rate, args.seconds)
        print(table(f"\nsteady: {args.rate:.0f} req/s for {args.seconds:.0f} s", calm, achieved))
        busy = Samples()
        sustained = await saturate(Mix(client, busy), args.clients, args.burst_seconds)
        print(table(f"\nsaturation: {args.clients} clients", busy, sustained))
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=15)
    p99 = max(percentile(calm.latencies[k], 0.99) for k in calm.latencies)
    verdict = "PASS" if p99 < TARGET_P99_MS and calm.errors == 0 else "FAIL"
    print(f"\n{verdict}: steady p99 {p99:.2f} ms (target < {TARGET_P99_MS:.0f} ms)")
    return 0 if verdict == "PASS" else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default="postgresql://postgres@localhost/postgres")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--burst-seconds", type=float, default=5.0)
    args = parser.parse_args()
    name, url = create_database(args.pg)
    try:
        secret = asyncio.run(make_agent(url))
        return asyncio.run(run(args, url, secret))
    finally:
        drop_database(args.pg, name)


if __name__ == "__main__":
    sys.exit(main())
