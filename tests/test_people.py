"""One way to delete a person (`people.remove_person`), and no table it forgets.

Every deletion of a subscriber (an opt-out or erasure, the purge of an unconfirmed
signup, the lapse of the existing-customer basis) goes through `people.remove_person`.
A table that references a subscriber, or holds an address or its keyed hash, must be
named in `people.HANDLED`: adding one without teaching `remove_person` fails here.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from newsletter import clock, people, reconsent, subscriptions
from newsletter.addresses import address_hash
from newsletter.extensions import db
from newsletter.models import (
    AddressChange,
    Basis,
    BounceEvent,
    Channel,
    ConfirmationSend,
    ConsentEvent,
    Delivery,
    DeliveryStatus,
    ImportEvidence,
    LapsedBasis,
    OutboxMessage,
    RetiredPublicId,
    RightsRequest,
    SubscriberStatus,
    Suppression,
)
from tests.timetravel import rows_mentioning, sqlite_files_mentioning

ADDRESS = "ann@example.org"
NEW_ADDRESS = "ann.new@example.org"
# Columns that hold an address or its keyed hash, whatever table they are in.
ADDRESS_COLUMNS = {"email", "new_email", "recipient", "address_hash", "subject_hash"}


def tables_holding_a_subscriber() -> set[str]:
    """Tables with a foreign key to a subscriber (or to a row that has one), or an
    address-like column."""
    tables = db.metadata.sorted_tables
    found = {"subscriber"}
    grew = True
    while grew:
        grew = False
        for table in tables:
            targets = {fk.column.table.name for fk in table.foreign_keys}
            if table.name not in found and targets & found:
                found.add(table.name)
                grew = True
    found |= {t.name for t in tables if ADDRESS_COLUMNS & set(t.columns.keys())}
    return found


def test_remove_person_handles_every_table_holding_a_subscriber(app):
    holding = tables_holding_a_subscriber()
    assert {"subscription", "delivery", "consent_event", "outbox_message"} <= holding
    forgotten = holding - set(people.HANDLED) - set(people.NOT_A_SUBSCRIBER)
    assert not forgotten, f"tables people.remove_person does not handle: {sorted(forgotten)}"
    stale = set(people.HANDLED) - {t.name for t in db.metadata.sorted_tables}
    assert not stale, f"people.HANDLED names tables that no longer exist: {sorted(stale)}"


def _fill_every_table(subscriber, make_campaign) -> None:
    """A row of the person in every table that can hold one (as an older version left
    them: a stored reply quoting both addresses)."""
    now, digest = clock.utcnow(), address_hash(subscriber.email)
    event = subscriptions.record_event(
        subscriber, "import", subscriptions.Evidence("test"), basis=subscriber_basis(subscriber)
    )
    db.session.add(
        ImportEvidence(
            consent_event_id=event.id, basis=event.basis, given_at=now, declared_by="cli"
        )
    )
    campaign = make_campaign()
    delivery = Delivery(
        campaign_id=campaign.id,
        subscriber_id=subscriber.id,
        status=DeliveryStatus.FAILED,
        last_error=f"550 5.1.1 <{ADDRESS.upper()}>: unknown, try {NEW_ADDRESS}",
    )
    db.session.add(delivery)
    db.session.flush()
    db.session.add_all(
        [
            BounceEvent(digest="d" * 64, delivery_id=delivery.id, kind="hard", source="smtp"),
            AddressChange(subscriber_id=subscriber.id, new_email=NEW_ADDRESS, requested_at=now),
            *(
                OutboxMessage(sender="n@example.org", recipient=a, subject="s", raw=a.encode())
                for a in (ADDRESS, NEW_ADDRESS)
            ),
            ConfirmationSend(address_hash=digest, sent_at=now),
            RightsRequest(kind="export", channel="mail", subject_hash=digest),
            LapsedBasis(address_hash=digest, basis=Basis.EXISTING_CUSTOMER, lapsed_at=now),
            Suppression(address_hash=digest, channel=Channel.SMS, reason="objection"),
            RetiredPublicId(public_id="o" * 32, address_hash=digest, retired_at=now),
        ]
    )
    db.session.commit()
    for name in people.HANDLED:
        table = db.metadata.tables[name]
        assert db.session.scalar(select(func.count()).select_from(table)), name


def subscriber_basis(subscriber) -> str:
    return subscriber.subscriptions[0].basis


def _erase(subscriber, now):
    subscriptions.erase(subscriber, "unsubscribed", Channel.ALL, subscriptions.Evidence("test"))


def _purge(subscriber, now):
    assert subscriptions.purge_unconfirmed(now + timedelta(hours=49), 48) == 1


def _lapse(subscriber, now):
    assert reconsent.end_lapsed_customer_basis(now, 730) == 1


PATHS = {
    "erase": (SubscriberStatus.ACTIVE, Basis.CONSENT, None, _erase),
    "purge-unconfirmed": (SubscriberStatus.PENDING, Basis.CONSENT, None, _purge),
    "customer-basis-lapse": (
        SubscriberStatus.ACTIVE,
        Basis.EXISTING_CUSTOMER,
        timedelta(days=731),
        _lapse,
    ),
}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_remove_person_leaves_no_address_and_no_reference(
    app, make_subscriber, make_campaign, path
):
    status, basis, bought_ago, remove = PATHS[path]
    now = clock.utcnow()
    subscriber = make_subscriber(
        ADDRESS, status=status, basis=basis, purchased_at=bought_ago and now - bought_ago
    )
    subscriber_id, digest = subscriber.id, address_hash(ADDRESS)
    _fill_every_table(subscriber, make_campaign)

    remove(subscriber, now)
    db.session.commit()

    for address in (ADDRESS, NEW_ADDRESS, ADDRESS.upper()):
        assert rows_mentioning(address) == []
        assert sqlite_files_mentioning(app, address) == []
    for table in db.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table.name == "subscriber":
                left = db.session.scalar(
                    select(func.count()).select_from(table).where(fk.parent == subscriber_id)
                )
                assert not left, f"{table.name}.{fk.parent.name} still names the subscriber"
    events = db.session.scalar(
        select(func.count()).where(ConsentEvent.subject_hash == digest).select_from(ConsentEvent)
    )
    # The person who never consented leaves no evidence; the others' evidence stays.
    assert bool(events) == (path != "purge-unconfirmed")
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 1  # the counts
