"""Engine overhead per step: validate + render + call echo.message + check schemas + record.

Run: `.venv/bin/python bench/pipeline.py [--runs 2000]`. Prints medians for 1- and 10-step
pipelines of echo.message, with literal arguments (the no-op case the target is for: under
50 µs per step; the exit status says whether it is met) and with templates (a field path and a
JMESPath function call per step, shown for comparison).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from ordinaut.core.clock import FrozenClock
from ordinaut.core.settings import Settings
from ordinaut.pipeline import RunContext, build_registry, run_pipeline

TARGET_US = 50.0
CONTEXT = RunContext({"id": "task"}, {"id": "run", "attempt": 1}, None, frozenset({"tasks:write"}))


def _payload(steps: int, templated: bool) -> dict[str, Any]:
    message = "Hello ${params.name}, ${length(params.items)} items" if templated else "hello"
    return {
        "params": {"name": "John", "items": [1, 2, 3]},
        "pipeline": [
            {"uses": "echo.message", "with": {"message": message}, "save_as": f"s{index}"}
            for index in range(steps)
        ],
    }


async def _measure(steps: int, templated: bool, runs: int) -> list[float]:
    registry = await build_registry(Settings())
    clock = FrozenClock(datetime(2026, 3, 2, 7, tzinfo=UTC))
    payload = _payload(steps, templated)
    for _ in range(min(200, runs)):  # warm caches (compiled templates, validators)
        await run_pipeline(payload, CONTEXT, registry, clock)
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        result = await run_pipeline(payload, CONTEXT, registry, clock)
        samples.append((time.perf_counter() - began) * 1e6 / steps)
        assert result.success, result.error
    return samples


async def main(runs: int) -> bool:
    print(f"{'pipeline':<28}{'median µs/step':>16}{'p90 µs/step':>14}{'target':>10}")
    ok = True
    for steps in (1, 10):
        for templated in (False, True):
            samples = sorted(await _measure(steps, templated, runs))
            median = statistics.median(samples)
            p90 = samples[int(len(samples) * 0.9)]
            ok = ok and (templated or median < TARGET_US)
            label = (
                f"{steps} step{'s' if steps > 1 else ''}, {'templates' if templated else 'literal'}"
            )
            verdict = "ok" if median < TARGET_US else "over"
            print(f"{label:<28}{median:>16.1f}{p90:>14.1f}{verdict:>10}")
    return ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    raise SystemExit(0 if asyncio.run(main(parser.parse_args().runs)) else 1)
