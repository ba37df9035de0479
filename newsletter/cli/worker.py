"""flask worker: the sending loop and the periodic jobs, until SIGTERM or SIGINT."""

from __future__ import annotations

import signal
import threading

import click
from flask import current_app

from .. import plumbing, scheduler, sending


@click.command("worker")
def worker() -> None:
    """Run the sending loop and the scheduler; stop cleanly on SIGTERM/SIGINT.

    On a signal the worker finishes the message in hand, writes its batch's results
    and exits; deliveries it had claimed but not tried return to the queue when their
    lease runs out.
    """
    app = current_app._get_current_object()
    stop = threading.Event()

    def request_stop(signum, _frame):
        click.echo(f"stopping ({signal.Signals(signum).name})", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    jobs = scheduler.start_scheduler(app)
    click.echo("worker started", err=True)
    plumbing.log_operator_warnings(app, "flask worker")  # a mailto nobody reads, ...
    try:
        sending.run_worker(app, stop)
    finally:
        if jobs is not None:
            jobs.shutdown(wait=False)
    click.echo("worker stopped", err=True)


COMMANDS = [worker]
