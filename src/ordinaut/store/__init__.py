"""All SQL lives here: table definitions, migrations and one named function per query."""

from ordinaut.store.engine import Store, normalize_database_url

__all__ = ["Store", "normalize_database_url"]
