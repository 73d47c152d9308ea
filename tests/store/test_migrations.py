"""The migrations build exactly the schema the code declares, on both dialects."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ordinaut.store.migrate import sync_url, upgrade
from ordinaut.store.schema import metadata


def test_migrated_schema_matches_table_definitions(db_url: str) -> None:
    engine = sa.create_engine(sync_url(db_url))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == []


def test_second_upgrade_is_a_no_op(db_url: str) -> None:
    assert upgrade(db_url) == []


def test_upgrade_creates_every_table_on_an_empty_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert upgrade(url) == ["0001", "0002"]
    engine = sa.create_engine(sync_url(url))
    names = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert {t.name for t in metadata.sorted_tables} <= names
