"""What the CLI prints: one `Reporter` interface (base.py), a text and a JSON reporter, the
run history as a listener."""
from __future__ import annotations

from automations.engine.report.base import DEBUG, NORMAL, QUIET, VERBOSE, Reporter, RunListener, TaskLog

__all__ = ["DEBUG", "NORMAL", "QUIET", "VERBOSE", "Reporter", "RunListener", "TaskLog"]
