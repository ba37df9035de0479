"""Faults against a real SMTP server on loopback and a real database: nothing is lost,
nothing is sent twice (but where SMTP itself cannot tell), no page answers 500.

The scenarios live in bench/faults.py, which prints the same figures for
docs/RELIABILITY.md with more recipients.
"""

from __future__ import annotations

import pytest

from bench import faults
from tests.fault_smtp import FaultSink
from tests.helpers import free_port

RECIPIENTS = 12


@pytest.fixture
def sink():
    server = FaultSink(port=free_port(), hang_seconds=2.5)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config, sink):
    return {
        **app_config,
        **sink.config(),
        "MAIL_TIMEOUT": 1,
        "BOUNCE_ADDRESS": "bounces@shop.example",
        "SEND_BATCH_SIZE": 5,
    }


def run(app, sink, name: str) -> faults.Figures:
    return faults.run_scenario(app, sink, name, RECIPIENTS)


@pytest.mark.parametrize(
    "name",
    [
        "421 service closing (x3)",
        "451 try later (x3)",
        "drop mid-DATA (x2)",
        "hang past MAIL_TIMEOUT (x1)",
        "database unavailable mid-send",
    ],
)
def test_transient_fault_loses_nothing_and_sends_nothing_twice(app, sink, name):
    result = run(app, sink, name)
    assert (result.lost, result.duplicates, result.http_500) == (0, 0, 0), result
    assert result.delivered == RECIPIENTS


def test_database_connections_killed_mid_send_really_hit_the_sender(app, sink):
    """On PostgreSQL the sender's connection is terminated under it: it meets the error,
    keeps the results of what it sent, and a later round finishes the rest."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("pg_terminate_backend needs PostgreSQL (SQLite: the file is locked)")
    result = run(app, sink, "database unavailable mid-send")
    assert result.db_errors >= 1
    assert (result.lost, result.duplicates, result.http_500) == (0, 0, 0), result


def test_smtp_550_is_refused_and_recorded_not_lost(app, sink):
    result = run(app, sink, "550 no such user (x2)")
    assert (result.lost, result.duplicates, result.http_500) == (0, 0, 0), result
    assert (result.refused, result.delivered) == (2, RECIPIENTS - 2)


def test_connection_lost_after_the_server_took_the_message_is_one_duplicate(app, sink):
    """SMTP cannot tell "taken" from "lost" when the reply never comes (RFC 1047): the
    sender retries, so the person may get the message twice; never zero times."""
    result = run(app, sink, "drop after the server took it (x1)")
    assert (result.lost, result.duplicates, result.http_500) == (0, 1, 0), result


def test_hang_is_cut_by_mail_timeout(app, sink):
    result = run(app, sink, "hang past MAIL_TIMEOUT (x1)")
    assert result.seconds < 2.5 + 5  # one timeout, not one per message
    assert result.delivered == RECIPIENTS


def test_worker_killed_with_sigkill_loses_nothing(app, sink, tmp_path):
    result = faults.run_kill9(app, sink, 30, tmp_path)
    assert (result.lost, result.http_500) == (0, 0), result
    assert result.duplicates <= 5  # at most the batch in flight (SEND_BATCH_SIZE in the bench)
