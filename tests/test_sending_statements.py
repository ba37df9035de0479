"""The sender's own ways to the database give what SQLAlchemy's would: the batch's
results written together (one UPDATE from arrays on PostgreSQL, an executemany on
SQLite) and the per-message re-check (`sending.dbapi`, on a cursor kept for the
connection). Run on both databases (NEWSLETTER_TEST_DATABASE_URL for PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import Integer, String, bindparam, cast, literal, select
from sqlalchemy.exc import DBAPIError

from newsletter import campaigns
from newsletter.addresses import address_hash
from newsletter.clock import frozen, utcnow
from newsletter.extensions import db
from newsletter.models import Basis, Delivery, DeliveryStatus
from newsletter.sending import dbapi, recipients
from newsletter.sending.batch import Batch, Pacer, load


class _NoTransport:
    flush_every = 0  # results are kept until `write`, as with SMTP


def _queued(make_campaign, make_subscriber, count: int) -> list:
    for number in range(count):
        make_subscriber(f"reader{number}@example.org")
    campaign = make_campaign()
    campaigns.start_sending(campaign)
    db.session.commit()
    ids = db.session.scalars(select(Delivery.id).order_by(Delivery.id)).all()
    return load(list(ids))


def test_a_batch_s_results_are_written_as_each_was_recorded(app, make_campaign, make_subscriber):
    sent, deferred, refused, twice = _queued(make_campaign, make_subscriber, 4)
    batch = Batch(_NoTransport(), Pacer(0), {})
    moment = utcnow().replace(microsecond=123456)
    with frozen(moment):
        batch.record(sent, DeliveryStatus.SENT)
        batch.record(deferred, DeliveryStatus.DEFERRED, '451 4.3.0 try later, "quoted" \\ {x}')
        batch.record(refused, DeliveryStatus.FAILED, "550 5.1.1 unknown — é, ñ")
        batch.record(twice, DeliveryStatus.SENT)
        batch.record(twice, DeliveryStatus.DEFERRED, "421 closing")  # the last one counts
        batch.write()
    db.session.expire_all()
    rows = {d.id: d for d in db.session.scalars(select(Delivery))}
    assert (rows[sent.id].status, rows[sent.id].sent_at, rows[sent.id].attempts) == (
        DeliveryStatus.SENT,
        moment,
        1,
    )
    assert rows[sent.id].last_error is None
    assert rows[sent.id].next_attempt_at is None
    assert rows[deferred.id].status == DeliveryStatus.DEFERRED
    assert rows[deferred.id].last_error == '451 4.3.0 try later, "quoted" \\ {x}'
    assert rows[deferred.id].next_attempt_at > moment
    assert rows[deferred.id].sent_at is None
    assert (rows[refused.id].status, rows[refused.id].last_error) == (
        DeliveryStatus.FAILED,
        "550 5.1.1 unknown — é, ñ",
    )
    assert (rows[twice.id].status, rows[twice.id].last_error) == (
        DeliveryStatus.DEFERRED,
        "421 closing",
    )
    assert all(row.claimed_by is None and row.claimed_until is None for row in rows.values())


def test_the_per_message_recheck_reads_what_sqlalchemy_reads(app, make_subscriber):
    """Every column of the re-check of a group (one statement: on PostgreSQL from arrays,
    elsewhere a query a message), datetimes with their zone included, as SQLAlchemy's
    own execution gives it; each row tagged with its message's place in the group; and
    nothing for a subscription that is gone."""
    bought = utcnow() - timedelta(days=40)
    person = make_subscriber(
        "buyer@example.org", basis=Basis.EXISTING_CUSTOMER, purchased_at=bought
    )
    other = make_subscriber("other@example.org")
    topic_id = person.subscriptions[0].topic_id
    gone = SimpleNamespace(subscriber_id=other.id, topic_id=topic_id + 1000)  # no such topic
    there = SimpleNamespace(subscriber_id=person.id, topic_id=topic_id)
    hashes = [address_hash(other.email), address_hash(person.email)]
    db.session.execute(select(literal(1)))  # a transaction is open, as in a batch
    statement, values = recipients._fresh([(gone, None), (there, None)], hashes)
    (fast,) = statement.rows(values)
    (plain,) = db.session.execute(statement.statement, values).all()
    assert tuple(fast) == tuple(plain)
    assert fast.position == 2
    assert fast.purchased_at == bought
    assert fast.purchased_at.tzinfo is not None
    assert fast.objected is False
    assert fast.email == "buyer@example.org"


def _number():
    return select(cast(bindparam("digits", type_=String), Integer).label("number"))


def test_a_failing_per_message_read_raises_sqlalchemy_s_error(app):
    db.session.execute(select(literal(1)))
    statement = dbapi.prepared(_number, {"digits": ""})
    assert statement.rows({"digits": "12"})[0].number == 12
    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite reads 'twelve' as 0 without an error")
    with pytest.raises(DBAPIError, match="twelve"):
        statement.rows({"digits": "twelve"})
    db.session.rollback()
    db.session.execute(select(literal(1)))
    assert statement.rows({"digits": "7"})[0].number == 7  # the connection is usable again


def test_the_recheck_s_kept_cursor_survives_rollbacks_and_a_new_connection(
    app, make_campaign, make_subscriber
):
    """The re-check keeps one cursor a connection (`dbapi._cursor`): after a rollback
    (psycopg then drops its prepared statements) and after the connection was replaced
    it still answers, from the new connection."""
    (delivery,) = _queued(make_campaign, make_subscriber, 1)
    (recipient,) = recipients.lawful_recipients([delivery]).values()
    for _ in range(8):  # past psycopg's prepare threshold (5)
        assert recipients.still_lawful([(delivery, recipient)]) == [recipient]
    db.session.rollback()
    assert recipients.still_lawful([(delivery, recipient)]) == [recipient]
    before = db.session.connection().connection.dbapi_connection
    db.session.connection().invalidate()
    db.session.rollback()
    assert recipients.still_lawful([(delivery, recipient)]) == [recipient]
    assert db.session.connection().connection.dbapi_connection is not before
