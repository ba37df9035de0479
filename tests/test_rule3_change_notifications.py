"""Rule 3 without a query a message on SQLite (newsletter/sending/changes.py).

The sender skips the per-message re-check while SQLite's triggers have counted no change
to what rules 1 and 3 read; PostgreSQL re-checks every message (its NOTIFY arrives after
the COMMIT returns: not soon enough for rule 3, docs/PERFORMANCE.md session 7). These
tests make such changes the ways they happen (the domain's opt-out, raw SQL from another
connection, an objection) in the middle of a send, and check that no message reaches the
person after it; that whatever makes the sender unsure (missing triggers, the count's
row gone) means the re-check for every message; and that a commit of something else (a
signup) keeps the fast path.
"""

from __future__ import annotations

import hashlib

import pytest
from flask import current_app
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bench.sink import SinkProcess
from newsletter import campaigns, create_app, sending, subscriptions
from newsletter.addresses import address_hash
from newsletter.extensions import db
from newsletter.models import Channel, Subscriber, Suppression
from newsletter.sending import changes, recipients
from newsletter.sending.transports import smtp

from .helpers import PG_URL


@pytest.fixture
def app_config(app_config, smtp_server):
    """Every test here sends to the real loopback SMTP server."""
    return {**app_config, **smtp_server.config()}


@pytest.fixture
def rechecks(monkeypatch):
    """The messages re-checked against the database (subscriber ids), in order."""
    seen: list[int] = []
    real = recipients.still_lawful

    def counting(group):
        seen.extend(delivery.subscriber_id for delivery, _ in group)
        return real(group)

    monkeypatch.setattr(recipients, "still_lawful", counting)
    return seen


def _send(make_campaign, make_subscriber, smtp_server, change, count: int = 6, **campaign):
    """Send a campaign to `count` people; `change(app, their ids)` runs in the SMTP server's
    thread as the second message arrives, committed before that message is accepted."""
    people = [make_subscriber(f"p{i}@example.org") for i in range(count)]
    ids = [person.id for person in people]
    app = current_app._get_current_object()

    def on_message(_received):
        if len(smtp_server.messages) == 2:
            change(app, ids)

    smtp_server.handler.on_message = on_message
    campaigns.start_sending(make_campaign(**campaign))
    db.session.commit()
    counts = sending.send_pending("test-worker", batch_size=50)
    received = [rcpt for message in smtp_server.messages for rcpt in message.rcpt_tos]
    return people, counts, received


def _sql(app, statement: str, **values) -> None:
    """Run `statement` on a connection of its own and commit, as an operator's psql or
    sqlite3 would (not the app's session, not its pool)."""
    with app.app_context():
        url = db.engine.url
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement), values)
    finally:
        engine.dispose()


def _opt_out_p4(app, ids):
    """The fifth person leaves through the domain's opt-out (the unsubscribe page's)."""
    with app.app_context():
        leaver = db.session.get(Subscriber, ids[4])
        subscriptions.erase(leaver, "unsubscribed", Channel.ALL, subscriptions.Evidence("test"))
        db.session.commit()


def test_rule_3_an_opt_out_mid_send_stops_the_next_message_without_a_recheck_each(
    make_campaign, make_subscriber, smtp_server, rechecks
):
    if PG_URL:
        pytest.skip("SQLite's count; PostgreSQL re-checks every message (the test below)")

    people, counts, received = _send(make_campaign, make_subscriber, smtp_server, _opt_out_p4)
    assert "p4@example.org" not in received
    assert counts["sent"] == 5
    assert counts["skipped"] == 1
    # Nothing was re-checked before the opt-out; everything after it was.
    assert people[0].id not in rechecks
    assert people[1].id not in rechecks
    assert rechecks
    assert rechecks[-1] == people[5].id


# Changes to who may get mail, as raw SQL from another connection (an operator's psql).
RAW_CHANGES = pytest.mark.parametrize(
    "statement",
    [
        'DELETE FROM "subscription" WHERE subscriber_id = :id',
        "UPDATE \"subscriber\" SET status = 'pending' WHERE id = :id",
        'INSERT INTO "suppression" (address_hash, channel, reason, created_at) '
        "VALUES (:hashed, 'email', 'objection', CURRENT_TIMESTAMP)",
    ],
    ids=["subscription-deleted", "subscriber-no-longer-active", "objection-inserted"],
)


@RAW_CHANGES
def test_rule_3_a_change_by_raw_sql_from_elsewhere_is_seen_before_the_next_message(
    make_campaign, make_subscriber, smtp_server, rechecks, statement
):
    if PG_URL:
        pytest.skip("SQLite's count; PostgreSQL re-checks every message (the test below)")

    def change(app, ids):
        with app.app_context():
            hashed = address_hash("p4@example.org")
        _sql(app, statement, id=ids[4], hashed=hashed)

    people, _counts, received = _send(make_campaign, make_subscriber, smtp_server, change)
    assert "p4@example.org" not in received
    assert people[4].id in rechecks
    assert people[5].id in rechecks
    assert people[0].id not in rechecks


def test_rule_3_an_objection_recorded_mid_send_is_seen_before_the_next_message(
    make_campaign, make_subscriber, smtp_server, rechecks
):
    def object_(app, _ids):
        with app.app_context():  # on the suppression list only; the subscriber stays
            hashed = address_hash("p3@example.org")
            db.session.add(Suppression(address_hash=hashed, reason="objection"))
            db.session.commit()

    _people, _counts, received = _send(make_campaign, make_subscriber, smtp_server, object_)
    assert "p3@example.org" not in received


def test_rule_3_a_commit_of_something_else_keeps_the_fast_path(
    make_campaign, make_subscriber, smtp_server, rechecks
):
    if PG_URL:
        pytest.skip("SQLite's count; PostgreSQL re-checks every message (the test below)")

    def sign_up(app, _ids):  # a new subscriber, pending: nothing the send reads changes
        with app.app_context():
            db.session.add(Subscriber(email="new@example.org"))
            db.session.commit()

    _people, counts, received = _send(make_campaign, make_subscriber, smtp_server, sign_up)
    assert counts["sent"] == 6
    assert len(received) == 6
    assert rechecks == []


def _drop_a_trigger() -> None:
    db.session.execute(text(f"DROP TRIGGER {changes.TRIGGER}_topic_update"))
    db.session.commit()


def test_rule_3_without_the_triggers_every_message_is_rechecked(
    make_campaign, make_subscriber, smtp_server, rechecks
):
    if PG_URL:
        pytest.skip("SQLite's count; PostgreSQL re-checks every message (the test below)")
    _drop_a_trigger()
    try:
        people, counts, _received = _send(
            make_campaign, make_subscriber, smtp_server, lambda _app, _ids: None
        )
    finally:
        changes.create_triggers(db.session.connection())
        db.session.commit()
    assert counts["sent"] == 6
    assert rechecks == [person.id for person in people]


def test_rule_3_sqlite_without_the_count_every_message_is_rechecked(
    make_campaign, make_subscriber, smtp_server, rechecks
):
    if PG_URL:
        pytest.skip("SQLite's count; PostgreSQL re-checks every message (the test below)")
    db.session.execute(text(f"DELETE FROM {changes.COUNT}"))  # the triggers' row is gone
    db.session.commit()
    people, counts, _received = _send(
        make_campaign, make_subscriber, smtp_server, lambda _app, _ids: None
    )
    assert counts["sent"] == 6
    assert rechecks == [person.id for person in people]


def test_rule_3_sqlite_the_count_gone_mid_send_means_a_recheck_for_the_rest(
    make_campaign, make_subscriber, smtp_server, rechecks
):
    if PG_URL:
        pytest.skip("SQLite's count; PostgreSQL re-checks every message (the test below)")

    def delete_the_count(app, _ids):
        _sql(app, f"DELETE FROM {changes.COUNT}")

    people, counts, _received = _send(make_campaign, make_subscriber, smtp_server, delete_the_count)
    assert counts["sent"] == 6
    assert people[0].id not in rechecks
    assert rechecks[-1] == people[5].id


def test_rule_3_an_in_memory_sqlite_database_rechecks_every_message(app):
    """A second connection to `sqlite://` would open another, empty database."""
    memory = create_app({**app.config, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with memory.app_context():
        assert changes.watcher() is changes.UNWATCHED


def test_rule_3_postgresql_rechecks_every_message(
    make_campaign, make_subscriber, smtp_server, rechecks
):
    if not PG_URL:
        pytest.skip("PostgreSQL's path: SQLite's is the tests above")

    _people, counts, received = _send(make_campaign, make_subscriber, smtp_server, _opt_out_p4)
    assert "p4@example.org" not in received
    assert counts["sent"] == 5
    assert len(set(rechecks)) == 6  # each of the six, before its hand-off


@RAW_CHANGES
def test_rule_3_with_bdat_a_group_is_rechecked_together_right_before_its_one_write(
    app, make_campaign, make_subscriber, rechecks, monkeypatch, statement
):
    """Against a relay offering CHUNKING (Postfix does) messages go in groups of
    SMTP_GROUP, each group in one write, its recipients re-checked in one statement right
    before it. An opt-out committed after one group's write stops its message in the
    next group; the messages of the group before had left already."""
    people = [make_subscriber(f"p{i}@example.org") for i in range(20)]
    addresses = [person.email for person in people]
    ids = [person.id for person in people]
    leaver = {"id": ids[12], "hashed": address_hash(addresses[12])}
    writes: list[list[str]] = []
    real = smtp.SmtpTransport.send_group

    def send_group(transport, handoffs):
        writes.append([h.recipient for h in handoffs])
        outcomes = real(transport, handoffs)
        if len(writes) == 2:  # the first group of eight is written: now the opt-out
            _sql(app, statement, **leaver)
        return outcomes

    monkeypatch.setattr(smtp.SmtpTransport, "send_group", send_group)
    with SinkProcess(chunking=True) as sink:
        app.config.update(MAIL_SERVER=sink.host, MAIL_PORT=sink.port)
        campaigns.start_sending(make_campaign())
        db.session.commit()
        counts = sending.send_pending("test-worker", batch_size=50)
        stats = sink.stats()
        digest = sink.recipients_digest()

    # The first message goes alone (the connection, and whether it offers BDAT, is not
    # known before it), then groups of eight.
    assert smtp.SMTP_GROUP == 8
    assert writes == [
        addresses[:1],
        addresses[1:9],
        addresses[9:12] + addresses[13:17],
        addresses[17:],
    ]
    assert counts == {"batches": 1, "sent": 19, "skipped": 1}
    assert stats["messages"] == 19
    lawful = sorted(a.encode() for a in addresses if a != addresses[12])
    assert digest == hashlib.sha256(b"\n".join(lawful)).hexdigest()
    if PG_URL:
        assert rechecks == ids  # every message, a group a statement
    else:
        assert rechecks == ids[9:]  # nothing before the count moved, everything after
