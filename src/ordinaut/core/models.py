"""Frozen value types passed between layers (rows become these at the store boundary)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ordinaut.core.states import Scope


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    scopes: tuple[str, ...]
    active: bool
    created_at: datetime
    updated_at: datetime

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    def has_scope(self, scope: str) -> bool:
        return self.is_admin or scope in self.scopes
