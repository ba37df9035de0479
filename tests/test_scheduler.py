"""The scheduler and its job leases: one run per period, whatever the number of workers."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from newsletter import clock, jobs, scheduler
from newsletter.extensions import db
from newsletter.models import JobLease, Subscriber

HOUR = timedelta(hours=1)


@pytest.fixture
def counting_job(app):
    """A registered job `count` that records each run; `wait_for` makes a run last."""
    runs: list = []
    wait_for = threading.Event()
    wait_for.set()

    def count(now):
        runs.append(now)
        wait_for.wait(timeout=10)
        return 1

    jobs.JOBS["count"] = jobs.Job("count", HOUR, count)
    yield runs, wait_for
    del jobs.JOBS["count"]


def run_at(app, moment, holder="worker-1") -> bool:
    with clock.frozen(moment):
        return scheduler.run_leased(app, "count", holder)


def test_a_job_runs_once_per_period(app, counting_job):
    runs, _ = counting_job
    start = clock.utcnow()
    assert run_at(app, start) is True
    assert run_at(app, start + timedelta(minutes=10), "worker-2") is False
    assert run_at(app, start + 50 * timedelta(minutes=1)) is False
    assert run_at(app, start + HOUR, "worker-2") is True
    assert runs == [start, start + HOUR]
    lease = db.session.get(JobLease, "count")
    assert lease.holder is None  # released after the run
    assert lease.last_run_at == start + HOUR


def test_a_dead_holder_loses_its_lease(app, counting_job):
    start = clock.utcnow()
    with clock.frozen(start):
        assert scheduler.acquire_lease("count", "crashed-worker", HOUR)  # never released
    assert run_at(app, start + 30 * timedelta(minutes=1)) is False
    assert run_at(app, start + HOUR + timedelta(minutes=1)) is True


def test_a_failing_job_releases_its_lease(app, counting_job):
    def fail(now):
        raise RuntimeError("boom")

    jobs.JOBS["count"] = jobs.Job("count", HOUR, fail)
    start = clock.utcnow()
    assert run_at(app, start) is True
    db.session.expire_all()
    assert db.session.get(JobLease, "count").leased_until is None


def _race(app, target, workers: int = 2) -> list:
    """Run `target(app, holder)` in `workers` threads released at the same instant."""
    barrier = threading.Barrier(workers, timeout=10)
    results: list = []

    def worker(holder):
        with app.app_context():
            barrier.wait()
            results.append(target(app, holder))

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.fixture
def postgres_only(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("several workers share one database only on PostgreSQL")


def test_two_workers_run_a_job_once(app, counting_job, postgres_only):
    runs, slow = counting_job
    slow.clear()  # the winner keeps running while the loser tries

    def attempt(app, holder):
        ran = scheduler.run_leased(app, "count", holder)
        if not ran:
            slow.set()  # the loser is done: let the winner finish
        return ran

    results = _race(app, attempt, workers=4)
    assert sorted(results) == [False, False, False, True]
    assert len(runs) == 1


def test_two_workers_send_one_reconsent_request(app, make_subscriber, outbox, postgres_only):
    old = clock.utcnow() - timedelta(days=800)
    for n in range(12):
        make_subscriber(f"person{n}@example.org", consented_at=old)

    results = _race(
        app, lambda app, holder: scheduler.run_leased(app, "reconsent-requests", holder)
    )

    assert sorted(results) == [False, True]
    assert len(outbox()) == 12  # one mail each, not two
    requested = db.session.scalars(select(Subscriber.reconsent_requested_at)).all()
    assert None not in requested


def test_start_scheduler_runs_every_job_at_its_interval(app, counting_job):
    runs, _ = counting_job
    ran = threading.Event()
    count = jobs.JOBS["count"].run
    jobs.JOBS["count"] = jobs.Job("count", HOUR, lambda now: (count(now), ran.set())[0])
    started = scheduler.start_scheduler(app, holder="worker-under-test")
    try:
        scheduled = {job.id: job for job in started.get_jobs()}
        assert set(scheduled) == set(jobs.JOBS)
        for name, job in scheduled.items():
            assert job.trigger.interval == jobs.JOBS[name].every
        assert ran.wait(timeout=10)  # ran at start, without waiting an hour
        assert len(runs) == 1
    finally:
        started.shutdown(wait=True)
    assert db.session.get(JobLease, "count").last_run_at is not None
