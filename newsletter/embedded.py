"""The embedded worker: `flask run` sends the mail and runs the periodic jobs itself.

README's run command alone (`pip install -e . && flask run`) must deliver what the admin
sends and run the purges, re-consent and retention jobs. So the process that serves
`flask run` also runs, in two background threads, what `flask worker` runs in the
foreground: the sending loop (`sending.run_worker`) and the job scheduler
(`scheduler.start_scheduler`). Both already share their work safely with any number of
other workers: deliveries are claimed with leases (SKIP LOCKED on PostgreSQL, the write
lock on SQLite) and each job takes its `JobLease` once per period, so a `flask worker`
started beside `flask run` never makes anyone receive a message twice.

When it starts (docs/SENDING.md, "The embedded worker"):
- only when the app was loaded by Flask's own `flask run` command: `create_app` never
  starts it (STYLE: no scheduler in the factory), and gunicorn, `flask worker`, the other
  commands and the tests never do;
- only in the process that serves: with the reloader (`flask run --debug`) Werkzeug runs
  a watching parent and a serving child (`WERKZEUG_RUN_MAIN=true`); the parent never
  sends;
- unless `NEWSLETTER_EMBEDDED_WORKER` is false (production runs `flask worker`s).

It stops when the serving process ends (Ctrl+C, SIGTERM, a reload): the message in hand
is finished and the untried rest of its batch goes back to the queue.
"""

from __future__ import annotations

import atexit
import logging
import signal
import sys
import threading

import click
from flask import Flask
from flask.cli import run_command
from flask.helpers import get_debug_flag
from werkzeug.serving import is_running_from_reloader

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 15.0  # the message in hand may wait for a slow SMTP server


def enabled(app: Flask) -> bool:
    """NEWSLETTER_EMBEDDED_WORKER (a yes/no setting, typed in config.py: "off", "0",
    "no", JSON `false` are all false)."""
    return app.config["EMBEDDED_WORKER"]


def serving_flask_run() -> bool:
    """True inside Flask's `flask run` command, in the process that will serve."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.command is not run_command:
        return False
    reload = ctx.params.get("reload")
    if reload is None:  # `flask run` follows --debug / FLASK_DEBUG
        reload = get_debug_flag()
    return not reload or is_running_from_reloader()


class EmbeddedWorker:
    """The sending loop and the scheduler in background threads of this process."""

    def __init__(self, app: Flask):
        self.app = app
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.jobs = None

    def start(self) -> None:
        from . import scheduler, sending  # the sender's imports only where it runs

        self.jobs = scheduler.start_scheduler(self.app)
        self.thread = threading.Thread(
            target=sending.run_worker,
            args=(self.app, self.stop_event),
            name="newsletter-embedded-sender",
            daemon=True,  # never keeps the process alive; stop() ends it cleanly first
        )
        self.thread.start()
        click.echo(
            " * Sending and periodic jobs run inside this process (embedded worker; "
            "NEWSLETTER_EMBEDDED_WORKER=false leaves them to `flask worker`)",
            err=True,
        )

    def stop(self) -> None:
        """Stop both threads (idempotent): the message in hand is finished first."""
        if self.stop_event.is_set():
            return
        self.stop_event.set()
        if self.jobs is not None:
            self.jobs.shutdown(wait=False)
        if self.thread is not None:
            self.thread.join(STOP_TIMEOUT_SECONDS)
            if self.thread.is_alive():
                log.warning("embedded sender still busy; its claims return when they expire")
        click.echo(" * Embedded worker stopped", err=True)


def start_for_flask_run(app: Flask) -> EmbeddedWorker | None:
    """Start the embedded worker when `app` is being served by `flask run` (else None)."""
    if not serving_flask_run():
        return None
    from .plumbing import log_operator_warnings

    log_operator_warnings(app, "flask run")  # a mailto nobody reads, a noreply contact
    if not enabled(app):
        click.echo(
            " * NEWSLETTER_EMBEDDED_WORKER is off: run `flask worker` to send mail", err=True
        )
        return None
    cache = app.extensions.setdefault("newsletter", {})
    if cache.get("embedded_worker") is not None:
        return cache["embedded_worker"]
    worker = cache["embedded_worker"] = EmbeddedWorker(app)
    worker.start()
    click.get_current_context().call_on_close(worker.stop)
    atexit.register(worker.stop)
    _exit_on_sigterm()
    return worker


def _exit_on_sigterm() -> None:
    """Without the reloader SIGTERM would kill `flask run` outright, skipping the clean
    stop; turn it into an ordinary exit, as Werkzeug's reloader does."""
    if threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
