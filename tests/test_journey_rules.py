"""The subscriber journey's legal rules, each test named after the rule it proves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from newsletter import compliance, subscriptions
from newsletter.addresses import address_hash
from newsletter.clock import frozen, utcnow
from newsletter.extensions import db
from newsletter.models import (
    Basis,
    ConsentEvent,
    ConsentText,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from tests.helpers import confirm_path, mail_text, signup


def test_nothing_but_confirmation_before_confirmation(client, outbox):
    signup(client, "pending@example.org")
    subscriber = db.session.scalar(select(Subscriber))
    [subscription] = subscriber.subscriptions
    assert not compliance.has_lawful_basis(subscriber, subscription)
    assert not compliance.may_send_marketing(subscriber, subscription)
    messages = outbox("pending@example.org")
    assert len(messages) == 1
    assert "confirm" in messages[0]["Subject"].lower()
    assert "List-Unsubscribe" not in messages[0]  # a system mail, not marketing


def test_confirmation_mail_has_no_advertising_and_no_echoed_name(client, outbox):
    signup(client, "ann@example.org", name="BUY CHEAP PILLS at spam.example")
    [message] = outbox()
    assert "PILLS" not in message.as_string()
    assert message["Auto-Submitted"] == "auto-generated"


def test_consent_record_holds_who_when_what_text_and_how(client, outbox):
    headers = {"User-Agent": "SignupBrowser/1.0"}
    client.post(
        "/subscribe",
        data={
            "email": "Ann@Example.org",
            "topics": ["newsletter"],
            "consent": "y",
            "consent_text_id": "1",
        },
        headers=headers,
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    client.post(
        confirm_path(outbox()[0]),
        headers={"User-Agent": "ConfirmBrowser/2.0"},
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    signup_event, confirm_event = db.session.scalars(
        select(ConsentEvent).order_by(ConsentEvent.id)
    ).all()
    text = db.session.get(ConsentText, 1)
    assert (signup_event.kind, confirm_event.kind) == ("signup", "confirm")
    assert signup_event.ip == "198.51.100.7"
    assert signup_event.user_agent == "SignupBrowser/1.0"
    assert confirm_event.ip == "203.0.113.9"
    assert confirm_event.user_agent == "ConfirmBrowser/2.0"
    assert signup_event.consent_text_id == confirm_event.consent_text_id == text.id
    assert signup_event.topics == confirm_event.topics == ["newsletter"]
    assert confirm_event.basis == Basis.CONSENT
    assert confirm_event.detail["signup_event_id"] == signup_event.id
    assert confirm_event.occurred_at >= signup_event.occurred_at
    assert signup_event.subject_hash == address_hash("ann@example.org")
    export = subscriptions.export_data(db.session.scalar(select(Subscriber)))
    assert export["consent_events"][0]["consent_text"]["text"] == text.text


def test_consent_texts_are_versioned_and_immutable(app):
    first = subscriptions.current_consent_text()
    second = subscriptions.add_consent_text("New wording: yes, send me the newsletter.")
    db.session.commit()
    assert second.version == first.version + 1
    assert subscriptions.current_consent_text().id == second.id
    assert db.session.get(ConsentText, first.id).text == first.text


def test_explicit_consent_required(app):
    with pytest.raises(compliance.ComplianceError):
        compliance.require_explicit_consent(False, ["newsletter"])
    with pytest.raises(compliance.ComplianceError):
        compliance.require_explicit_consent(True, [])
    compliance.require_explicit_consent(True, ["newsletter"])


def test_signup_form_consent_box_is_unticked_and_beside_the_text(client):
    page = client.get("/subscribe").text
    assert '<input type="checkbox" id="consent" name="consent" value="y">' in page
    assert subscriptions.current_consent_text().text in page
    assert "/privacy" in page
    assert "Demo Shop" in page
    assert 'name="topics" type="checkbox" value="newsletter">' in page  # not checked


def test_existing_customer_basis_only_for_own_similar_products(make_topic, make_subscriber):
    make_topic("offers", own_similar_products=True)
    customer = make_subscriber(
        "buyer@example.org",
        topics=("newsletter", "offers"),
        basis=Basis.EXISTING_CUSTOMER,
        purchased_at=utcnow(),
    )
    by_topic = {s.topic.slug: s for s in customer.subscriptions}
    assert compliance.has_lawful_basis(customer, by_topic["offers"])
    assert not compliance.has_lawful_basis(customer, by_topic["newsletter"])


def test_identical_signup_replies_whatever_the_address_state(client, make_subscriber):
    make_subscriber("active@example.org")
    make_subscriber("pending@example.org", status=SubscriberStatus.PENDING)
    db.session.add(
        Suppression(address_hash=address_hash("gone@example.org"), reason="unsubscribed")
    )
    db.session.commit()
    replies = {
        email: signup(client, email)
        for email in (
            "new@example.org",
            "active@example.org",
            "pending@example.org",
            "gone@example.org",
        )
    }
    bodies = {r.text for r in replies.values()}
    statuses = {r.status_code for r in replies.values()}
    assert statuses == {200}
    assert len(bodies) == 1


def test_confirmation_mails_capped_per_address(client, outbox, app):
    cap = app.config["CONFIRM_MAILS_PER_ADDRESS"]
    for _ in range(cap + 2):
        assert signup(client, "target@example.org").status_code == 200
    assert len(outbox("target@example.org")) == cap
    later = utcnow() + timedelta(hours=25)
    with frozen(later):
        signup(client, "target@example.org")
    assert len(outbox("target@example.org")) == cap + 1


def test_signup_rate_limit_per_ip(app, client):
    app.config["SIGNUP_RATE_LIMIT"] = "3 per minute"
    codes = [signup(client, f"p{i}@example.org").status_code for i in range(5)]
    assert codes[:3] == [200, 200, 200]
    assert codes[3] == 429
    assert "Too many attempts" in signup(client, "x@example.org").text


def test_honeypot_signup_is_answered_alike_but_nothing_stored(client, outbox):
    normal = signup(client, "real@example.org")
    bot = signup(client, "bot@example.org", website="http://spam.example")
    assert bot.status_code == normal.status_code == 200
    assert bot.text == normal.text
    assert [str(m["To"]) for m in outbox()] == ["real@example.org"]


def test_confirm_link_text_says_what_was_requested(client, outbox):
    signup(client)
    assert "Newsletter" in mail_text(outbox()[0])


def test_link_pages_are_rate_limited_per_ip(app, client):
    app.config["LINK_RATE_LIMIT"] = "3 per minute"
    codes = [client.get("/confirm/garbage").status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]


def test_rate_limits_are_kept_in_redis_when_configured(app_config, app):
    import redis

    from newsletter import create_app as make_app

    server = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1)
    try:
        server.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"nltest{utcnow().timestamp()}"
    config = {
        **app_config,
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
        "RATELIMIT_KEY_PREFIX": prefix,
        "SIGNUP_RATE_LIMIT": "2 per minute",
    }
    other = make_app(config)
    browser = other.test_client()
    codes = [signup(browser, f"{n}@example.org").status_code for n in "abc"]
    assert codes == [200, 200, 429]
    # the counter lives in Redis, where every gunicorn worker and machine sees it
    keys = server.keys(f"*{prefix}*")
    assert keys
    server.delete(*keys)
    with other.app_context():
        db.session.remove()
        db.engine.dispose()
