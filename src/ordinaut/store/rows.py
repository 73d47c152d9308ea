"""Row -> frozen value conversion, shared by the query modules."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import sqlalchemy as sa

T = TypeVar("T")
_FIELDS: dict[type, tuple[str, ...]] = {}


def to_value(cls: type[T], row: sa.RowMapping | dict[str, Any]) -> T:
    """Build dataclass `cls` from the row's columns of the same names."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    return cls(**{name: row[name] for name in names})
