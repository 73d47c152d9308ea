"""Outbox relay throughput: events moved from PostgreSQL's outbox to Redis Streams per second.

    .venv/bin/python bench/relay.py [--pg postgresql://postgres@localhost/postgres]
        [--redis redis://127.0.0.1:6379/0] [--events 20000] [--rounds 3]

A fresh, migrated PostgreSQL database gets `--events` outbox rows per round (one stream, as the
core's events are); one relay drains them in batches of 500 (read, publish, mark relayed in
one transaction). The stream and the database are removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import psycopg
import redis.asyncio as aioredis

from ordinaut.core.clock import SystemClock
from ordinaut.events import RedisStreamsBus
from ordinaut.services.relay import OutboxRelay
from ordinaut.store.engine import Store
from ordinaut.store.migrate import upgrade
from ordinaut.store.outbox import outbox_insert_many

CLOCK = SystemClock()


async def one_round(relay: OutboxRelay, store: Store, stream: str, count: int) -> float:
    events = [("run.finished", None, {"n": n, "task_id": str(uuid.uuid4())}) for n in range(count)]
    async with store.transaction() as conn:
        await outbox_insert_many(conn, events, CLOCK.now(), stream=stream)
    began, relayed = time.perf_counter(), 0
    while batch := await relay.relay_once():
        relayed += batch
    assert relayed == count, f"relayed {relayed} of {count}"
    return count / (time.perf_counter() - began)


async def bench(url: str, redis_url: str, count: int, rounds: int) -> list[float]:
    upgrade(url)
    store, bus = Store(url), RedisStreamsBus(redis_url)
    stream = f"bench:relay:{uuid.uuid4().hex[:8]}"
    try:
        relay = OutboxRelay(store, bus, CLOCK)
        return [await one_round(relay, store, stream, count) for _ in range(rounds)]
    finally:
        client = aioredis.Redis.from_url(redis_url)
        await client.delete(stream)
        await client.aclose()
        await bus.close()
        await store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pg", default="postgresql://postgres@localhost/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    name = f"ordinaut_bench_relay_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = args.pg.rpartition("/")[0] + f"/{name}"
        rates = asyncio.run(bench(url, args.redis, args.events, args.rounds))
    finally:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"\nOutbox relay, PostgreSQL -> Redis Streams, {args.events:,} events per round")
    print(f"{'round':<8}{'events/s':>12}")
    for n, rate in enumerate(rates, 1):
        print(f"{n:<8}{rate:>12,.0f}")
    print(f"{'median':<8}{statistics.median(rates):>12,.0f}")


if __name__ == "__main__":
    main()
