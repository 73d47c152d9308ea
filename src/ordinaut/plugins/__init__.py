"""Extension framework: manifests, capabilities, discovery, loading, supervision, routing."""

from __future__ import annotations

from ordinaut.plugins.capabilities import Capability, CapabilityDenied, CapabilitySet, parse_grants
from ordinaut.plugins.context import ExtensionContext, ExtensionEvents, ExtensionTool, ToolRegistrar
from ordinaut.plugins.discovery import ENTRY_POINT_GROUP, ExtensionSource
from ordinaut.plugins.loader import (
    ErrorPhase,
    ExtensionFailure,
    ExtensionManager,
    ExtensionStatus,
)
from ordinaut.plugins.manifest import MANIFEST_SCHEMA, Manifest, parse_manifest, read_manifest
from ordinaut.plugins.routing import ExtensionUnavailable
from ordinaut.plugins.supervisor import BackgroundSupervisor, Backoff, JobInfo, JobState

__all__ = [
    "ENTRY_POINT_GROUP",
    "MANIFEST_SCHEMA",
    "BackgroundSupervisor",
    "Backoff",
    "Capability",
    "CapabilityDenied",
    "CapabilitySet",
    "ErrorPhase",
    "ExtensionContext",
    "ExtensionEvents",
    "ExtensionFailure",
    "ExtensionManager",
    "ExtensionSource",
    "ExtensionStatus",
    "ExtensionTool",
    "ExtensionUnavailable",
    "JobInfo",
    "JobState",
    "Manifest",
    "ToolRegistrar",
    "parse_grants",
    "parse_manifest",
    "read_manifest",
]
