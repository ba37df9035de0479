"""The periodic-job scheduler hosted by `flask worker` (APScheduler 3).

Never started inside `create_app`. Placeholder until the time-based-compliance work
lands: `start_scheduler` returns None and the worker runs without periodic jobs.
"""

from __future__ import annotations

from flask import Flask


def start_scheduler(app: Flask):
    """Start the periodic jobs in the background of a worker; returns the scheduler."""
    return None
