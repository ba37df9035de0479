"""One date for "since when the basis holds" (compliance.basis_since): the footer of the
message the sender builds and the Art. 15 export give the same date, for a consent
subscriber after a re-consent and for an existing customer; and the re-consent job's
SQL conditions agree with their Python twins."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import select

from newsletter import clock, compliance, reconsent, rights, tokens
from newsletter.extensions import db
from newsletter.models import Basis, Subscriber
from newsletter.sending import recipients
from newsletter.subscriptions import Evidence, displayed_consent_text

DAY = timedelta(days=1)


def footer_since(person: Subscriber):
    """The date the sender puts in the footer of this person's message."""
    [subscription] = person.subscriptions
    delivery = SimpleNamespace(subscriber_id=person.id, topic_id=subscription.topic_id)
    return recipients.lawful_recipients([delivery])[(person.id, subscription.topic_id)].since


def export_since(person: Subscriber) -> str:
    [item] = rights.export_subject(person)["subscriptions"]
    return item["since"]


def test_footer_and_export_agree_after_a_reconsent(app, make_subscriber):
    start = clock.utcnow().replace(microsecond=0) - 740 * DAY
    person = make_subscriber("ann@example.org", consented_at=start)
    assert reconsent.request_due(clock.utcnow(), 730) == 1
    token = tokens.sign(tokens.RECONSENT, person.public_id)
    text = displayed_consent_text(person.locale)
    _, renewed = reconsent.renew_consent(token, Evidence("test"), consent_text_id=text.id)
    assert renewed
    db.session.commit()
    db.session.expire_all()
    person = db.session.get(Subscriber, person.id)
    since = footer_since(person)
    assert since is not None
    assert export_since(person) == since.isoformat()
    assert f"{since:%Y-%m-%d}" in rights.why_you_receive(person, person.subscriptions[0])


def test_footer_and_export_agree_for_an_existing_customer(app, make_topic, make_subscriber):
    make_topic("shoes", own_similar_products=True)
    bought = clock.utcnow().replace(microsecond=0) - 30 * DAY
    person = make_subscriber(
        "cat@example.org", topics=("shoes",), basis=Basis.EXISTING_CUSTOMER, purchased_at=bought
    )
    assert footer_since(person) == bought
    assert export_since(person) == bought.isoformat()
    [subscription] = person.subscriptions
    assert compliance.basis_since(subscription.basis, subscription.confirmed_at, bought) == bought


def test_reconsent_sql_conditions_agree_with_their_python_twins(app, make_subscriber):
    now = clock.utcnow()
    old = make_subscriber("old@example.org", consented_at=now - 800 * DAY)
    make_subscriber("new@example.org", consented_at=now - 10 * DAY)
    old.reconsent_requested_at = now - 40 * DAY
    old.purchased_at = now - 900 * DAY
    db.session.commit()
    everyone = db.session.scalars(select(Subscriber)).all()
    twins = [
        (compliance.reconsent_due, compliance.reconsent_due_condition, 730),
        (compliance.reconsent_lapsed, compliance.reconsent_lapsed_condition, 30),
        (compliance.customer_basis_lapsed, compliance.customer_basis_lapsed_condition, 730),
    ]
    for python, sql, days in twins:
        by_sql = set(db.session.scalars(select(Subscriber.id).where(sql(now, days))))
        by_python = {s.id for s in everyone if python(s, now, days)}
        assert by_sql == by_python, python.__name__
        assert by_sql  # each twin finds someone here
