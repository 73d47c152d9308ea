"""Apply Alembic migrations from code (`ordinaut migrate`, `ordinaut up`, tests)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from ordinaut.core.errors import StoreUnavailable
from ordinaut.store.engine import _first_line, normalize_database_url

MIGRATIONS = Path(__file__).parent / "migrations"
_SYNC_DRIVERS = {"postgresql": "postgresql+psycopg", "sqlite": "sqlite+pysqlite"}


def sync_url(database_url: str) -> str:
    """The same database through a synchronous driver: Alembic runs synchronously."""
    url = make_url(normalize_database_url(database_url))
    return url.set(drivername=_SYNC_DRIVERS[url.get_backend_name()]).render_as_string(
        hide_password=False
    )


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(database_url: str, revision: str = "head") -> list[str]:
    """Bring the schema to `revision`; returns the revisions applied (empty when up to date)."""
    engine = sa.create_engine(sync_url(database_url))
    try:
        with engine.begin() as conn:
            before = MigrationContext.configure(conn).get_current_revision()
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            after = MigrationContext.configure(conn).get_current_revision()
    except (OperationalError, DBAPIError) as exc:
        raise StoreUnavailable(f"database unreachable: {_first_line(exc)}") from exc
    finally:
        engine.dispose()
    return _revisions_between(before, after)


def _revisions_between(before: str | None, after: str | None) -> list[str]:
    if before == after:
        return []
    script = ScriptDirectory.from_config(alembic_config())
    applied = [rev.revision for rev in script.iterate_revisions(after, before)]
    return list(reversed(applied))
