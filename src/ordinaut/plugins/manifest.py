"""`extension.json`: what an extension is, where its code lives, and what the operator grants.

Checked with JSON Schema first (so every problem is named with its path), then turned into a
frozen pydantic model. Ids are restricted so they fit everywhere an id appears: the URL
`/ext/<id>/`, tool names `ext.<id>.<name>`, streams `ext:<id>:<ns>:<name>`, scopes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict

from ordinaut.core.errors import FieldError, InvalidInput
from ordinaut.plugins.capabilities import Capability

MANIFEST_FILE = "extension.json"
ID_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"

MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Ordinaut extension manifest",
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "name", "version", "module"],
    "properties": {
        "id": {"type": "string", "pattern": ID_PATTERN},
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "version": {"type": "string", "minLength": 1, "maxLength": 64},
        "module": {
            "type": "string",
            "pattern": r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
        },
        "description": {"type": "string", "maxLength": 2000},
        "enabled": {"type": "boolean"},
        "eager": {"type": "boolean"},
        "grants": {
            "type": "array",
            "items": {"enum": [c.value for c in Capability]},
            "uniqueItems": True,
        },
        "public": {
            "type": "array",
            "items": {"type": "string", "pattern": r"^/([A-Za-z0-9_.-]+/)*([A-Za-z0-9_.-]+|\*)?$"},
            "uniqueItems": True,
        },
    },
}

_VALIDATOR = Draft202012Validator(MANIFEST_SCHEMA)


class Manifest(BaseModel):
    """A validated manifest. `eager` extensions load at startup, others on first request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    version: str
    module: str
    description: str = ""
    enabled: bool = True
    eager: bool = False
    grants: frozenset[Capability] = frozenset()
    # paths under /ext/<id> whose GET and HEAD need no credential: `/` exactly, or `/static/*`
    # for everything below. Only for files that hold no data (a web UI's page and scripts).
    public: tuple[str, ...] = ()

    def is_public(self, path: str) -> bool:
        """Whether `path` (relative to /ext/<id>, no trailing slash needed) is listed public."""
        path = "/" + path.strip("/")
        if ".." in path.split("/"):
            return False
        return any(
            path.startswith(entry[:-1]) if entry.endswith("/*") else path == entry
            for entry in self.public
        )


def manifest_problems(document: object) -> list[FieldError]:
    """Every schema violation, each located by its JSON path inside the manifest."""
    errors = sorted(_VALIDATOR.iter_errors(document), key=lambda e: list(map(str, e.path)))
    return [FieldError(tuple(error.absolute_path), error.message) for error in errors]


def parse_manifest(document: object, *, origin: str = MANIFEST_FILE) -> Manifest:
    """Validate a decoded manifest; `InvalidInput` lists each problem with its location."""
    problems = manifest_problems(document)
    if problems:
        detail = "; ".join(f"{'/'.join(map(str, p.loc)) or '(root)'}: {p.msg}" for p in problems)
        raise InvalidInput(f"invalid manifest {origin}: {detail}", problems)
    return Manifest.model_validate(document)


def read_manifest(path: Path) -> Manifest:
    """Read and validate `extension.json` from disk."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"unreadable manifest {path}: {exc}") from exc
    return parse_manifest(document, origin=str(path))
