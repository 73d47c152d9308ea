"""A long-running loop as a component: `start()` runs it as a task, `stop()` ends it cleanly."""

from __future__ import annotations

import asyncio
from typing import ClassVar


class LoopComponent:
    """Mixin for components whose `run()` loops `while not self._stopping`, sleeping on
    `self.wakeup`: `stop()` lets the iteration in progress finish (it commits), then returns.

    The class using it declares `wakeup`, `_task` and `_stopping` (dataclass fields).
    """

    loop_name: ClassVar[str] = "ordinaut-loop"
    wakeup: asyncio.Event
    _task: asyncio.Task[None] | None
    _stopping: bool

    async def run(self) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name=self.loop_name)

    async def stop(self) -> None:
        self._stopping = True
        self.wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None
