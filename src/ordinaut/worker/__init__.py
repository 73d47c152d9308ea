"""The worker: claims due occurrences, runs their pipelines, records every attempt."""

from ordinaut.worker.loop import Worker
from ordinaut.worker.runner import PipelineRunner, RunOutcome, TaskPipelineRunner

__all__ = ["PipelineRunner", "RunOutcome", "TaskPipelineRunner", "Worker"]
