"""Pipelines: payload validation, templates, conditions, the executor and the tool registry."""

from ordinaut.pipeline.catalog import build_registry, load_catalog
from ordinaut.pipeline.executor import PipelineResult, RunContext, run_pipeline
from ordinaut.pipeline.registry import (
    PublishEvent,
    Tool,
    ToolCallContext,
    ToolError,
    ToolRegistry,
    allowed,
)
from ordinaut.pipeline.validation import parse_pipeline, validate_payload

__all__ = [
    "PipelineResult",
    "PublishEvent",
    "RunContext",
    "Tool",
    "ToolCallContext",
    "ToolError",
    "ToolRegistry",
    "allowed",
    "build_registry",
    "load_catalog",
    "parse_pipeline",
    "run_pipeline",
    "validate_payload",
]
