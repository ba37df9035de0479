"""The time-based legal rules (SPEC rules 6 and 7), one test per rule function."""

from __future__ import annotations

from datetime import timedelta

from newsletter import compliance
from newsletter.models import Subscriber, SubscriberStatus
from tests.helpers import aware

NOW = aware(2028, 6, 1, 12)
DAY = timedelta(days=1)


def person(**fields) -> Subscriber:
    fields.setdefault("status", SubscriberStatus.ACTIVE)
    return Subscriber(email="ann@example.org", **fields)


def test_reconsent_due():
    assert not compliance.reconsent_due(person(consented_at=NOW - 729 * DAY), NOW, 730)
    assert compliance.reconsent_due(person(consented_at=NOW - 730 * DAY), NOW, 730)
    assert not compliance.reconsent_due(
        person(consented_at=NOW - 900 * DAY, status=SubscriberStatus.PENDING), NOW, 730
    )
    assert not compliance.reconsent_due(person(consented_at=None), NOW, 730)  # no consent


def test_reconsent_lapsed():
    assert not compliance.reconsent_lapsed(person(reconsent_requested_at=None), NOW, 30)
    assert not compliance.reconsent_lapsed(person(reconsent_requested_at=NOW - 29 * DAY), NOW, 30)
    assert compliance.reconsent_lapsed(person(reconsent_requested_at=NOW - 30 * DAY), NOW, 30)


def test_customer_basis_lapsed():
    assert not compliance.customer_basis_lapsed(person(purchased_at=NOW - 729 * DAY), NOW, 730)
    assert compliance.customer_basis_lapsed(person(purchased_at=NOW - 730 * DAY), NOW, 730)
    assert compliance.customer_basis_lapsed(person(purchased_at=None), NOW, 730)  # no evidence


def test_retention_cutoff():
    config = {key: 10 for key, _unit in compliance.RETENTION_PERIODS.values()}
    assert compliance.retention_cutoff("outbox", NOW, config) == NOW - 10 * DAY
    assert compliance.retention_cutoff("unconfirmed-signups", NOW, config) == NOW - timedelta(
        hours=10
    )
    for kind in compliance.RETENTION_PERIODS:
        assert compliance.retention_cutoff(kind, NOW, config) < NOW
