"""A connection kept for one of the worker's loops, so its statements skip pool checkout."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.store.engine import Store


class Lane:
    """On PostgreSQL: one connection held by one loop, prepared with `setup` statements and
    kept in autocommit, so a loop whose work is one statement (the claim, the finish) pays one
    round trip for it, with no BEGIN and no COMMIT. Callers needing several statements in one
    transaction open it themselves. On SQLite `use()` is a transaction on the Store's single
    shared connection, since holding that would lock every other writer out.
    """

    def __init__(self, store: Store, setup: Sequence[str], *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._store = store
        self._setup = list(setup)
        self._conn: AsyncConnection | None = None

    @contextlib.asynccontextmanager
    async def use(self) -> AsyncIterator[AsyncConnection]:
        """The lane's connection (PostgreSQL, autocommit); elsewhere, or before the lane is
        enabled, a transaction from the Store."""
        if not (self.enabled and self._store.is_postgres):
            async with self._store.transaction() as conn:
                yield conn
            return
        conn = await self._connection()
        try:
            yield conn
        except BaseException:
            if conn.invalidated or conn.closed:
                self._conn = None
            raise

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            conn = await self._store.engine.connect()
            for statement in self._setup:
                await conn.exec_driver_sql(statement)
            await conn.commit()
            self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    async def close(self) -> None:
        """Drop the connection (never handed back to the pool with our session settings)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.invalidate()
                await self._conn.close()
            self._conn = None
