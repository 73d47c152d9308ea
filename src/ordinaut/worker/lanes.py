"""A connection kept for one of the worker's loops, so its transactions skip pool checkout."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from ordinaut.store.engine import Store


class Lane:
    """On PostgreSQL: one connection held by one loop, prepared with `setup` statements (each
    transaction then costs no pool checkout and no ping). On SQLite the Store's single shared
    connection is used as usual, since holding it would lock every other writer out.
    """

    def __init__(self, store: Store, setup: Sequence[str], *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._store = store
        self._setup = list(setup)
        self._conn: AsyncConnection | None = None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        if not (self.enabled and self._store.is_postgres):
            async with self._store.transaction() as conn:
                yield conn
            return
        conn = await self._connection()
        try:
            async with conn.begin():
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
            self._conn = conn
        return self._conn

    async def close(self) -> None:
        """Drop the connection (never handed back to the pool with our session settings)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                if self._setup:
                    await self._conn.invalidate()
                await self._conn.close()
            self._conn = None
