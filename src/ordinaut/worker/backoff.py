"""Retry delays: pure functions of the strategy, the attempt that failed and a random source."""

from __future__ import annotations

from collections.abc import Callable

from ordinaut.core.states import BackoffStrategy

BASE_DELAY_SECONDS = 1.0
JITTER_LOW = 0.5  # exponential delays are multiplied by a factor in [JITTER_LOW, 1.0]

Random = Callable[[], float]
"""A source of floats in [0, 1): `random.random` in production, a fixed function in tests."""


def exponential_jitter(attempt: int, *, max_delay: float, random: Random) -> float:
    """1 s, 2 s, 4 s... capped at `max_delay`, times a jitter in [0.5, 1.0] so workers spread."""
    raw = min(BASE_DELAY_SECONDS * 2.0 ** (max(attempt, 1) - 1), max_delay)
    return raw * (JITTER_LOW + (1.0 - JITTER_LOW) * random())


def linear(attempt: int, *, max_delay: float) -> float:
    """1 s, 2 s, 3 s... capped at `max_delay`."""
    return min(BASE_DELAY_SECONDS * max(attempt, 1), max_delay)


def fixed(*, max_delay: float) -> float:
    """1 s every time (never more than `max_delay`)."""
    return min(BASE_DELAY_SECONDS, max_delay)


def retry_delay(strategy: str, attempt: int, *, max_delay: float, random: Random) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based) before the next one."""
    if strategy == BackoffStrategy.LINEAR:
        return linear(attempt, max_delay=max_delay)
    if strategy == BackoffStrategy.FIXED:
        return fixed(max_delay=max_delay)
    return exponential_jitter(attempt, max_delay=max_delay, random=random)
