"""automations: declarative start-up tasks for cloud development environments."""
from __future__ import annotations

__version__ = "0.1.0"
