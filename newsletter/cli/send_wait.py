"""`flask campaign send --wait`: the sending loop in this process and, on a larger
list, in helper processes (forked on Linux, else spawned), with a progress bar on a
terminal."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading

import click
from flask import current_app
from sqlalchemy import func, select

from .. import campaigns as domain
from .. import sending
from ..extensions import db
from ..models import Campaign, Subscription


def send_processes() -> int:
    """How many processes `campaign send --wait` sends with: NEWSLETTER_SEND_PROCESSES,
    or one per CPU this process may run on."""
    configured = current_app.config.get("SEND_PROCESSES")
    if configured:
        return max(1, configured)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def send_here(row: Campaign, total: int, helpers: SendHelpers) -> None:
    """Send the campaign with this process and the helpers (see SendHelpers).

    Every process runs `sending.send_pending` for this campaign, the loop of `flask
    worker`: the claims with leases give each delivery to one process (the same
    exactly-once guarantee as several workers), and rule 3 holds right before each
    hand-off (an opt-out recorded since the batch's read means the re-check).
    """
    config = current_app.config
    helpers.trim(total)
    stop = threading.Event()

    def request_stop(signum, _frame):
        click.echo(f"stopping ({signal.Signals(signum).name})", err=True)
        stop.set()
        helpers.stop()  # SIGTERM: a helper finishes its message, then stops

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    progress = _Progress(row.id, total) if sys.stdout.isatty() else None
    shares: list[int] = []
    failures: list[int] = []
    try:
        helpers.go.set()
        if helpers.processes:
            click.echo(f"sending with {len(helpers.processes) + 1} processes", err=True)
        config_rate, config["SEND_RATE"] = config.get("SEND_RATE"), helpers.rate
        try:
            mine = sending.send_pending(
                f"cli:{os.getpid()}", until_idle=True, stop_event=stop, campaign_id=row.id
            )
        finally:
            config["SEND_RATE"] = config_rate
        shares, failures = helpers.finish()
        if not stop.is_set():  # what a helper returned to the queue when it stopped
            swept = sending.send_pending(
                f"cli:{os.getpid()}", until_idle=True, stop_event=stop, campaign_id=row.id
            )
            mine["sent"] = mine.get("sent", 0) + swept.get("sent", 0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if progress is not None:
            progress.close()
    db.session.expire_all()
    row = db.session.get(Campaign, row.id)
    domain.finish_if_done(row)
    db.session.commit()
    shares.insert(0, mine.get("sent", 0))
    _report(row, shares, failures, stop.is_set())


def _report(row: Campaign, shares: list[int], failures: list[int], stopped: bool) -> None:
    """What `send --wait` tells the operator at the end; exit code 1 when not all ran."""
    if len(shares) > 1:
        click.echo(f"sent by {len(shares)} processes: " + " + ".join(map(str, shares)))
    for code in failures:
        click.echo(
            f"a sending process ended with exit code {code}: the batch it held returns to "
            "the queue when its lease runs out (NEWSLETTER_SEND_LEASE_SECONDS), and "
            "`flask worker` sends it then",
            err=True,
        )
    if stopped:
        click.echo(
            "stopped: the messages not tried are back in the queue; `flask worker` sends them",
            err=True,
        )
    click.echo(json.dumps(domain.campaign_status(row)))
    if failures or stopped:
        sys.exit(1)


class SendHelpers:
    """The helper processes of `campaign send --wait`: on Linux forked from this one
    (ready within milliseconds, with this process's app; each drops the inherited
    database connections and opens its own), elsewhere spawned (a fresh interpreter
    building the app from this one's configuration, about a second to start).

    Started before the recipients are queued, so that they start up meanwhile: as many
    as `processes` - 1, but no more than the topic's subscriptions (an upper bound of
    the recipients) fill batches beyond the first, so a small list starts none. Once
    the list is queued, those beyond its batches are stopped before they begin.
    NEWSLETTER_SEND_RATE is shared out: the command as a whole sends at most that many
    messages a second.
    """

    def __init__(self, row: Campaign, processes: int):
        config = current_app.config
        self.batch_size = config["SEND_BATCH_SIZE"]
        bound = db.session.scalar(
            select(func.count())
            .select_from(Subscription)
            .where(Subscription.topic_id == row.topic_id)
        )
        count = self._useful(processes, bound or 0)
        rate = config["SEND_RATE"]
        self.rate = rate / (count + 1) if rate else 0
        self.processes: dict = {}  # process: (its "started" event, its result queue)
        if not count:
            self.go = threading.Event()
            return
        forked = sys.platform == "linux"
        context = multiprocessing.get_context("fork" if forked else "spawn")
        self.go = context.Event()
        if forked:
            app = current_app._get_current_object()
        else:
            app = _picklable(config)  # the helper sets its share of SEND_RATE itself
        for _ in range(count):
            ready, results = context.Event(), context.Queue()
            process = context.Process(
                target=_helper,
                args=(app, self.rate, row.id, self.go, ready, results),
                name="campaign-send",
            )
            process.start()
            self.processes[process] = (ready, results)

    def _useful(self, processes: int, recipients: int) -> int:
        return max(0, min(processes, math.ceil(recipients / self.batch_size)) - 1)

    def trim(self, total: int) -> None:
        """Stop the helpers beyond what a list of `total` recipients needs."""
        for process in list(self.processes)[self._useful(len(self.processes) + 1, total) :]:
            process.terminate()
            process.join()
            del self.processes[process]

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()

    def cancel(self) -> None:
        self.stop()
        for process in self.processes:
            process.join()
        self.processes.clear()

    def finish(self) -> tuple[list[int], list[int]]:
        """Wait for the helpers; (messages each sent, exit codes of those that failed).
        A helper still starting now would only find the queue empty: it is stopped.
        (Should it have just claimed a batch, it returns it to the queue on SIGTERM.)"""
        for process, (ready, _) in self.processes.items():
            if not ready.is_set():
                process.terminate()
        shares, failures = [], []
        for process, (_, results) in self.processes.items():
            process.join()
            counts = _result(results) if process.exitcode == 0 else None
            if counts is not None:
                shares.append(counts.get("sent", 0))
            elif process.exitcode != -signal.SIGTERM:  # (stopped by us before it began)
                failures.append(process.exitcode)
        return shares, failures


def _result(results) -> dict | None:
    try:
        return results.get(timeout=5)
    except queue.Empty:
        return None


def _picklable(config: dict) -> dict:
    """The app's configuration, as a helper builds the same app from it."""
    kept = {}
    for name, value in config.items():
        try:
            pickle.dumps(value)
        except Exception:  # noqa: S112 - an object only this process can use: left out
            continue
        kept[name] = value
    return kept


_INHERITED_POOLS: list = []


def _helper(app, rate: float, campaign_id: int, go, ready, results) -> None:
    """A helper process of `campaign send --wait`: the sending loop for one campaign,
    once the command says go (the list is queued). SIGTERM or SIGINT: it finishes the
    message in hand, returns the untried rest of its batch to the queue and stops (as
    `flask worker` does). `app` is the command's app (forked) or its configuration."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if isinstance(app, dict):
        from .. import create_app

        app = create_app(app)
    else:  # forked: the parent's pooled connections are the parent's
        with app.app_context():
            for engine in db.engines.values():
                # Kept, never closed here (closing SQLite's file or a server connection
                # from this copy could undo the parent's locks or end its session); the
                # engine opens connections of its own from now on.
                _INHERITED_POOLS.append(engine.pool)
                engine.dispose(close=False)
    app.config["SEND_RATE"] = rate
    parent = multiprocessing.parent_process()
    while not go.wait(0.5):
        if stop.is_set() or (parent is not None and not parent.is_alive()):
            results.put({})
            return
    with app.app_context():
        ready.set()
        try:
            counts = sending.send_pending(
                sending.new_worker_id(), until_idle=True, stop_event=stop, campaign_id=campaign_id
            )
        finally:
            db.session.remove()
    results.put(counts)


class _Progress:
    """A progress bar on a terminal: the campaign's counts, read every half second by a
    thread of its own (with its own database session)."""

    def __init__(self, campaign_id: int, total: int):
        self.app = current_app._get_current_object()
        self.campaign_id = campaign_id
        self.bar = click.progressbar(length=total, label=f"campaign {campaign_id}")
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        shown = 0
        with self.app.app_context():
            try:
                while True:
                    finished = self.done.wait(0.5)
                    row = db.session.get(Campaign, self.campaign_id)
                    db.session.refresh(row)
                    status = domain.campaign_status(row)
                    now = status["total"] - status["queued"]
                    self.bar.update(now - shown)
                    shown = now
                    if finished:
                        return
            finally:
                db.session.remove()

    def close(self) -> None:
        self.done.set()
        self.thread.join(5)
        self.bar.render_finish()
        click.echo()
