"""Capabilities, deny by default: an extension may use what it requests AND is granted.

The extension's module says what it needs (`requires = [...]` or `capabilities = [...]`);
the operator grants through the manifest's `grants` (or, for entry-point plugins, through
configuration). Using anything outside the intersection raises `CapabilityDenied`, whose
message says which side is missing so the fix is obvious.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from ordinaut.core.errors import FieldError, InvalidInput, OrdinautError


class Capability(StrEnum):
    ROUTES = "ROUTES"  # HTTP routes under /ext/<id>/
    TOOLS = "TOOLS"  # `ext.<id>.*` tools usable in pipelines
    EVENTS_PUB = "EVENTS_PUB"  # publish on `ext:<id>:<ns>:<name>` streams
    EVENTS_SUB = "EVENTS_SUB"  # read event streams (tail or consumer group)
    BACKGROUND_TASKS = "BACKGROUND_TASKS"  # supervised periodic and long-running coroutines
    STATIC = "STATIC"  # serve files from a directory under /ext/<id>/


class CapabilityDenied(OrdinautError):
    """An extension used a capability outside what it requested and was granted."""

    def __init__(self, ext_id: str, capability: Capability, reason: str) -> None:
        super().__init__(
            f"extension {ext_id!r} may not use {capability.value}: {reason}",
            "capability_denied",
            403,
            "Capability denied",
        )
        self.ext_id = ext_id
        self.capability = capability


def parse_capabilities(
    values: Iterable[object], *, where: str = "capabilities"
) -> frozenset[Capability]:
    """Capability names (case-insensitive strings or members) -> a set; unknown names refused."""
    parsed: set[Capability] = set()
    for value in values:
        name = str(value.value if isinstance(value, Capability) else value).strip().upper()
        try:
            parsed.add(Capability(name))
        except ValueError:
            known = ", ".join(c.value for c in Capability)
            msg = f"unknown capability {value!r} (known: {known})"
            raise InvalidInput(msg, (FieldError((where,), msg),)) from None
    return frozenset(parsed)


def parse_grants(text: str) -> dict[str, frozenset[Capability]]:
    """Configuration grants for entry-point plugins: `"id=ROUTES+TOOLS; other=EVENTS_PUB"`.

    Each `;`-separated item names one plugin; capabilities are joined by `+`, `|` or `,`.
    """
    grants: dict[str, frozenset[Capability]] = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        ext_id, sep, names = item.partition("=")
        if not sep or not ext_id.strip():
            msg = f"grant {item!r} is not of the form id=CAPABILITY+CAPABILITY"
            raise InvalidInput(msg, (FieldError(("ORDINAUT_EXT_GRANTS",), msg),))
        parts = names.replace("|", "+").replace(",", "+").split("+")
        grants[ext_id.strip()] = parse_capabilities(
            filter(None, (p.strip() for p in parts)), where="ORDINAUT_EXT_GRANTS"
        )
    return grants


@dataclass(frozen=True)
class CapabilitySet:
    """What one extension requested and was granted; `require` enforces the intersection."""

    ext_id: str
    requested: frozenset[Capability]
    granted: frozenset[Capability]
    grant_source: str = "its manifest's `grants`"

    @property
    def effective(self) -> frozenset[Capability]:
        return self.requested & self.granted

    @property
    def denied(self) -> frozenset[Capability]:
        """Requested but not granted: the extension may still load, but not use these."""
        return self.requested - self.granted

    def allows(self, capability: Capability) -> bool:
        return capability in self.effective

    def require(self, capability: Capability) -> None:
        if capability in self.effective:
            return
        if capability not in self.requested:
            reason = f"the extension does not request it (add {capability.value!r} to `requires`)"
        else:
            reason = f"{self.grant_source} does not grant it"
        raise CapabilityDenied(self.ext_id, capability, reason)

    def require_any(self, *capabilities: Capability) -> None:
        """Pass if any of them is allowed; else explain the first."""
        if not any(self.allows(c) for c in capabilities):
            self.require(capabilities[0])


def requested_capabilities(target: object) -> frozenset[Capability]:
    """The capabilities an extension's module (or entry-point object) declares it needs."""
    declared = getattr(target, "requires", None)
    if declared is None:
        declared = getattr(target, "capabilities", ())
    if isinstance(declared, str | Capability) or not isinstance(declared, Iterable):
        declared = [declared]
    return parse_capabilities(declared, where="requires")


def grants_for(ext_id: str, grants: Mapping[str, Iterable[object]]) -> frozenset[Capability]:
    """Configured grants of one entry-point plugin; none unless configured."""
    return parse_capabilities(grants.get(ext_id, ()), where="ORDINAUT_EXT_GRANTS")
