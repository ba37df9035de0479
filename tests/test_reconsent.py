"""Biennial re-consent (SPEC rule 6), through time: request, renewal, lapse and purge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from newsletter import clock, subscriptions
from newsletter.extensions import db
from newsletter.models import (
    Basis,
    ConsentEvent,
    Subscriber,
    Subscription,
    Suppression,
)
from tests.helpers import BASE_URL, links_in, mail_html, mail_text, shown_consent_text_id
from tests.live import browser_page, serve
from tests.timetravel import at, rows_mentioning, run_job, sqlite_files_mentioning

ADDRESS = "ann@example.org"
DAY = timedelta(days=1)


@pytest.fixture
def start(app):
    """The moment Ann gave her consent (real now: tokens are signed with real time)."""
    return clock.utcnow().replace(microsecond=0)


@pytest.fixture
def ann(make_subscriber, start):
    return make_subscriber(ADDRESS, consented_at=start)


def reconsent_mails(outbox):
    return [m for m in outbox(ADDRESS) if "still want" in str(m["Subject"])]


def link(message, part: str) -> str:
    for url in links_in(mail_text(message)):
        if f"/{part}/" in url:
            return url.removeprefix(BASE_URL)
    raise AssertionError(f"no /{part}/ link in the mail")


def press_keep_me_subscribed(client, path: str, **kw):
    """As a browser: open the page, then press the button beside the text it shows."""
    shown = shown_consent_text_id(client.get(path).text)
    return client.post(path, data={"consent_text_id": shown}, **kw)


def test_nothing_before_two_years_then_one_request(ann, start, outbox):
    assert run_job("reconsent-requests", start + 729 * DAY) == 0
    assert reconsent_mails(outbox) == []

    assert run_job("reconsent-requests", start + 730 * DAY + timedelta(minutes=1)) == 1
    [message] = reconsent_mails(outbox)
    assert message["Auto-Submitted"] == "auto-generated"
    for body in (mail_text(message), mail_html(message)):
        assert f"{BASE_URL}/reconsent/" in body
        assert f"{BASE_URL}/unsubscribe/" in body
        assert "Privacy notice" in body


def test_request_is_sent_once(ann, start, outbox):
    for days in (731, 732, 740, 745):
        run_job("reconsent-requests", start + days * DAY)
    assert len(reconsent_mails(outbox)) == 1


def test_reconsent_page_get_changes_nothing(client, ann, start, outbox):
    run_job("reconsent-requests", start + 731 * DAY)
    path = link(reconsent_mails(outbox)[0], "reconsent")
    with at(start + 732 * DAY):
        page = client.get(path)
    assert page.status_code == 200
    assert "Keep me subscribed" in page.text
    assert "/unsubscribe/" in page.text
    db.session.expire_all()
    subscriber = db.session.scalar(select(Subscriber))
    assert subscriber.consented_at == start
    assert subscriber.reconsent_requested_at == start + 731 * DAY
    assert db.session.scalar(select(ConsentEvent).where(ConsentEvent.kind == "renew")) is None


def test_renewal_records_consent_and_resets_the_clock(client, ann, start, outbox):
    run_job("reconsent-requests", start + 731 * DAY)
    path = link(reconsent_mails(outbox)[0], "reconsent")
    renewed_at = start + 740 * DAY
    with at(renewed_at):
        response = press_keep_me_subscribed(client, path, headers={"User-Agent": "Browser/1.0"})
    assert response.status_code == 200
    assert "you stay subscribed" in response.text

    db.session.expire_all()
    subscriber = db.session.scalar(select(Subscriber))
    assert subscriber.consented_at == renewed_at
    assert subscriber.reconsent_requested_at is None
    event = db.session.scalar(select(ConsentEvent).where(ConsentEvent.kind == "renew"))
    assert event.occurred_at == renewed_at
    assert event.consent_text_id == subscriptions.current_consent_text().id
    assert event.topics == ["newsletter"]
    assert event.basis == Basis.CONSENT
    assert event.ip == "127.0.0.1"
    assert event.user_agent == "Browser/1.0"

    # Past the old grace period: still subscribed, and no new request before two more years.
    assert run_job("reconsent-lapses", start + 800 * DAY) == 0
    assert run_job("reconsent-requests", renewed_at + 729 * DAY) == 0
    assert db.session.scalar(select(Subscriber)) is not None
    assert run_job("reconsent-requests", renewed_at + 731 * DAY) == 1
    assert len(reconsent_mails(outbox)) == 2


def test_second_press_records_nothing_more(client, ann, start, outbox):
    run_job("reconsent-requests", start + 731 * DAY)
    path = link(reconsent_mails(outbox)[0], "reconsent")
    with at(start + 732 * DAY):
        press_keep_me_subscribed(client, path)
        again = client.post(path)
    assert again.status_code == 200
    kinds = db.session.scalars(select(ConsentEvent.kind)).all()
    assert kinds.count("renew") == 1


def test_no_answer_within_grace_period_erases_without_trace(app, ann, start, outbox):
    run_job("reconsent-requests", start + 731 * DAY)
    assert run_job("reconsent-lapses", start + (731 + 29) * DAY) == 0
    assert db.session.scalar(select(Subscriber)) is not None
    assert rows_mentioning(ADDRESS) != []  # the search does find the address while it is there
    if db.engine.dialect.name == "sqlite":
        assert sqlite_files_mentioning(app, ADDRESS) != []

    assert run_job("reconsent-lapses", start + (731 + 30) * DAY) == 1

    assert db.session.scalar(select(Subscriber)) is None
    assert rows_mentioning(ADDRESS) == []
    assert sqlite_files_mentioning(app, ADDRESS) == []
    suppression = db.session.scalar(select(Suppression))
    assert suppression.reason == "lapsed"
    assert suppression.channel == "email"
    kinds = db.session.scalars(select(ConsentEvent.kind)).all()
    assert kinds == ["signup", "confirm", "erase"]  # keyed by the hash only


def test_lapsed_subscriber_gets_nothing_more(ann, start, outbox):
    run_job("reconsent-requests", start + 731 * DAY)
    run_job("reconsent-lapses", start + 762 * DAY)
    run_job("reconsent-requests", start + 2000 * DAY)
    assert outbox() == []  # even the request was deleted with the address


def test_unsubscribe_link_in_the_request_erases(client, ann, start, outbox):
    run_job("reconsent-requests", start + 731 * DAY)
    path = link(reconsent_mails(outbox)[0], "unsubscribe")
    assert client.post(path).status_code == 200
    assert db.session.scalar(select(Subscriber)) is None


def test_expired_invalid_and_gone_links_get_clear_pages(client, ann, start, outbox):
    run_job("reconsent-requests", start + 731 * DAY)
    path = link(reconsent_mails(outbox)[0], "reconsent")
    with at(start + (731 + 30 + 8) * DAY):
        expired = client.get(path)
        expired_post = client.post(path)
    assert expired.status_code == expired_post.status_code == 410
    assert "expired" in expired.text

    tampered = client.get(path[:-3] + "abc")
    assert tampered.status_code == 400
    assert "not valid" in tampered.text
    assert client.post("/reconsent/garbage").status_code == 400

    db.session.delete(db.session.scalar(select(Subscriber)))
    db.session.commit()
    with at(start + 732 * DAY):
        assert client.get(path).status_code == 404
        assert client.post(path).status_code == 404


def test_pending_and_customer_only_subscribers_are_not_asked(make_subscriber, start, outbox):
    make_subscriber("pending@example.org", status="pending")
    make_subscriber(
        "customer@example.org",
        basis=Basis.EXISTING_CUSTOMER,
        consented_at=start,
        purchased_at=start + 700 * DAY,
    )
    assert run_job("reconsent-requests", start + 800 * DAY) == 0
    assert outbox() == []


def test_run_due_as_of_sends_the_request(runner, ann, start, outbox):
    as_of = (start + 731 * DAY).isoformat()
    result = runner.invoke(args=["jobs", "run-due", "--as-of", as_of])
    assert result.exit_code == 0, result.output
    assert '"reconsent-requests": 1' in result.output
    assert len(reconsent_mails(outbox)) == 1


# --- existing-customer basis ---------------------------------------------------------------


def test_customer_basis_lapses_after_the_configured_time(app, make_topic, make_subscriber, start):
    make_topic("offers", own_similar_products=True)
    make_subscriber(
        "bob@example.org", topics=("offers",), basis=Basis.EXISTING_CUSTOMER, purchased_at=start
    )
    assert run_job("customer-basis-lapses", start + 729 * DAY) == 0
    assert db.session.scalar(select(Subscriber)) is not None

    assert run_job("customer-basis-lapses", start + 730 * DAY) == 1

    assert db.session.scalar(select(Subscriber)) is None
    assert rows_mentioning("bob@example.org") == []
    assert sqlite_files_mentioning(app, "bob@example.org") == []
    # Not an objection: a new purchase may bring Bob back, so no suppression entry.
    assert db.session.scalar(select(Suppression)) is None


def test_customer_basis_follows_the_last_purchase(app, make_topic, make_subscriber, start):
    app.config["CUSTOMER_BASIS_DAYS"] = 365
    make_topic("offers", own_similar_products=True)
    bob = make_subscriber(
        "bob@example.org", topics=("offers",), basis=Basis.EXISTING_CUSTOMER, purchased_at=start
    )
    bob.purchased_at = start + 300 * DAY  # bought again
    db.session.commit()
    assert run_job("customer-basis-lapses", start + 400 * DAY) == 0
    assert run_job("customer-basis-lapses", start + 665 * DAY) == 1


def test_lapsed_customer_keeps_the_lists_they_consented_to(make_topic, make_subscriber, start):
    make_topic("offers", own_similar_products=True)
    carol = make_subscriber("carol@example.org", topics=("newsletter",), purchased_at=start)
    carol.subscriptions.append(
        Subscription(
            topic=subscriptions.topics_by_slug(["offers"])[0],
            basis=Basis.EXISTING_CUSTOMER,
            confirmed_at=start,
        )
    )
    db.session.commit()
    assert run_job("customer-basis-lapses", start + 731 * DAY) == 1
    db.session.expire_all()
    carol = db.session.scalar(select(Subscriber))
    assert [(s.topic.slug, s.basis) for s in carol.subscriptions] == [("newsletter", "consent")]
    kinds = db.session.scalars(select(ConsentEvent.kind)).all()
    assert kinds == ["signup", "confirm", "basis-lapsed"]


def test_a_person_renews_in_a_real_browser(app, make_subscriber, outbox):
    long_ago = clock.utcnow() - 800 * DAY
    make_subscriber(ADDRESS, consented_at=long_ago)
    assert run_job("reconsent-requests", clock.utcnow()) == 1
    path = link(reconsent_mails(outbox)[0], "reconsent")
    app.config["WTF_CSRF_ENABLED"] = True  # the real form, with its CSRF token

    with serve(app) as base_url, browser_page() as page:
        page.goto(base_url + path)
        page.get_by_role("button", name="Keep me subscribed").click()
        assert page.locator("h1").inner_text() == "Thank you: you stay subscribed"

    db.session.expire_all()
    subscriber = db.session.scalar(select(Subscriber))
    assert subscriber.consented_at > long_ago + 700 * DAY
    assert subscriber.reconsent_requested_at is None
    assert db.session.scalar(select(ConsentEvent.kind).where(ConsentEvent.kind == "renew"))
