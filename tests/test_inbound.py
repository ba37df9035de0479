"""Reports arrive by the bounce mailbox (real POP3 and IMAP servers) and by HTTP."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from sqlalchemy import select

from newsletter import (
    api_tokens,
    bounce_mailbox,
    bounces,
    campaigns,
    jobs,
    messages,
    sending,
    subscriptions,
    tokens,
)
from newsletter.addresses import address_hash
from newsletter.clock import utcnow
from newsletter.extensions import db
from newsletter.models import BounceEvent, Channel, Delivery, Suppression
from tests import bounce_samples
from tests.mailbox_servers import ImapServer, Pop3Server


@pytest.fixture(params=["pop3", "imap"])
def mailbox(request):
    server = (Pop3Server if request.param == "pop3" else ImapServer)().start()
    server.protocol = request.param
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config, mailbox):
    return {
        **app_config,
        "BOUNCE_ADDRESS": "bounces@shop.example",
        "BOUNCE_MAILBOX_PROTOCOL": mailbox.protocol,
        "BOUNCE_MAILBOX_HOST": "127.0.0.1",
        "BOUNCE_MAILBOX_PORT": mailbox.port,
        "BOUNCE_MAILBOX_SSL": False,
        "BOUNCE_MAILBOX_USERNAME": "bounces",
        "BOUNCE_MAILBOX_PASSWORD": "secret",
        "MAIL_TIMEOUT": 5,
    }


@pytest.fixture
def verps(app, make_subscriber, make_campaign):
    """`verps(n)`: a campaign sent to n people; their VERP envelope senders, in order."""

    def make(n: int) -> list[str]:
        for number in range(n):
            make_subscriber(f"p{number}@example.org")
        campaigns.start_sending(make_campaign(subject="News", body="Hello."))
        db.session.commit()
        sending.send_pending("test-worker")
        ids = db.session.scalars(select(Delivery.id).order_by(Delivery.id)).all()
        return [bounces.envelope_sender(delivery_id) for delivery_id in ids]

    return make


def still_subscribed(number: int) -> bool:
    db.session.expire_all()
    return subscriptions.find_subscriber(f"p{number}@example.org") is not None


def test_mailbox_reports_are_applied_then_removed(mailbox, verps):
    senders = verps(3)
    mailbox.store.add(bounce_samples.dsn(senders[0]))
    mailbox.store.add(bounce_samples.arf(senders[1]))
    mailbox.store.add(bounce_samples.dsn(senders[2], action="delayed", status="4.4.7"))

    counts = bounce_mailbox.poll_mailbox()

    assert counts == {"suppressed": 2, "ignored": 1}
    assert [still_subscribed(n) for n in range(3)] == [False, False, True]
    assert mailbox.store.messages == {}


def test_a_message_that_is_no_report_is_kept_for_a_person_on_imap(mailbox, verps):
    verps(1)
    key = mailbox.store.add(bounce_samples.out_of_office())
    assert bounce_mailbox.poll_mailbox() == {"unreadable": 1}
    if mailbox.protocol == "imap":
        assert key in mailbox.store.messages  # marked seen, not deleted
        assert bounce_mailbox.poll_mailbox() == {}  # and not read again
    else:
        assert mailbox.store.messages == {}  # POP3 has no flags: removed, counted


def test_nothing_leaves_the_mailbox_when_applying_fails(app, mailbox, verps, monkeypatch):
    senders = verps(2)
    mailbox.store.add(bounce_samples.dsn(senders[0]))
    mailbox.store.add(bounce_samples.dsn(senders[1]))
    real_process = bounces.process
    calls = []

    def failing_on_second(raw, source):
        calls.append(source)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_process(raw, source)

    monkeypatch.setattr(bounces, "process", failing_on_second)
    with pytest.raises(RuntimeError):
        bounce_mailbox.poll_mailbox()
    db.session.rollback()
    assert len(mailbox.store.messages) == 2  # no QUIT / no EXPUNGE: both still there
    assert still_subscribed(0)  # the first one's effect was not committed either

    monkeypatch.setattr(bounces, "process", real_process)
    assert bounce_mailbox.poll_mailbox() == {"suppressed": 2}
    assert mailbox.store.messages == {}


def test_a_report_read_twice_counts_once(mailbox, verps):
    senders = verps(1)
    raw = bounce_samples.dsn(senders[0], status="4.2.2")
    mailbox.store.add(raw)
    assert bounce_mailbox.poll_mailbox() == {"retried": 1}
    mailbox.store.add(raw)  # the server handed it out again (e.g. a crash before QUIT)
    assert bounce_mailbox.poll_mailbox() == {"duplicate": 1}
    assert db.session.scalar(select(db.func.count()).select_from(BounceEvent)) == 1


def test_wrong_credentials_are_a_clear_mailbox_error(app, mailbox):
    app.config["BOUNCE_MAILBOX_PASSWORD"] = "wrong"
    with pytest.raises(bounce_mailbox.MailboxError) as caught:
        bounce_mailbox.poll_mailbox()
    assert "wrong" not in str(caught.value)
    assert mailbox.protocol.upper()[:4] in str(caught.value)


def test_unreachable_mailbox_does_not_stop_the_other_jobs(app, mailbox):
    mailbox.stop()
    assert jobs.run_job("poll-bounce-mailbox", utcnow()) == 0
    assert "purge-unconfirmed" in jobs.run_due(utcnow())


def test_the_job_polls_the_mailbox(mailbox, verps):
    senders = verps(1)
    mailbox.store.add(bounce_samples.dsn(senders[0]))
    assert jobs.run_job("poll-bounce-mailbox", utcnow()) == 1
    assert not still_subscribed(0)


def test_no_mailbox_configured_means_no_poll(app, mailbox):
    app.config["BOUNCE_MAILBOX_PROTOCOL"] = None
    mailbox.store.add(bounce_samples.out_of_office())
    assert bounce_mailbox.poll_mailbox() == {}
    assert mailbox.store.sessions == 0


# --- HTTP ----------------------------------------------------------------------------------


@pytest.fixture
def token(app) -> str:
    """A live API token with the scope bounces:write."""
    _row, secret = api_tokens.create_token("mta", [api_tokens.WRITE_BOUNCES])
    db.session.commit()
    return secret


def post(client, raw: bytes, token: str | None):
    headers = {"Content-Type": "message/rfc822"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.post("/inbound/bounces", data=raw, headers=headers)


@pytest.mark.parametrize("mailbox", ["pop3"], indirect=True)
def test_http_endpoint_applies_a_report(client, verps, token):
    senders = verps(2)
    response = post(client, bounce_samples.arf(senders[1]), token)
    assert (response.status_code, response.json) == (200, {"outcome": "suppressed"})
    assert [still_subscribed(0), still_subscribed(1)] == [True, False]
    assert post(client, bounce_samples.arf(senders[1]), token).json == {"outcome": "duplicate"}


@pytest.mark.parametrize("mailbox", ["pop3"], indirect=True)
def test_http_endpoint_refuses_without_a_live_token(client, verps, token):
    senders = verps(1)
    raw = bounce_samples.dsn(senders[0])
    for wrong in (None, "", "wrong", token + "x", token[:-1]):
        response = post(client, raw, wrong)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    api_tokens.revoke_token("mta")
    db.session.commit()
    assert post(client, raw, token).status_code == 401
    assert still_subscribed(0)


@pytest.mark.parametrize("mailbox", ["pop3"], indirect=True)
def test_http_endpoint_needs_the_bounces_scope(client, verps):
    _row, reader = api_tokens.create_token("reader", [api_tokens.READ_OBJECTIONS])
    db.session.commit()
    senders = verps(1)
    response = post(client, bounce_samples.dsn(senders[0]), reader)
    assert response.status_code == 403
    assert "bounces:write" in response.json["error"]
    assert still_subscribed(0)


@pytest.mark.parametrize("mailbox", ["pop3"], indirect=True)
def test_http_endpoint_says_what_is_wrong_with_a_non_report(client, token):
    response = post(client, bounce_samples.out_of_office(), token)
    assert response.status_code == 400
    assert "RFC 3464" in response.json["error"]
    too_big = post(client, b"x" * (bounces.MAX_REPORT_BYTES + 1), token)
    assert too_big.status_code == 413


def unsubscribe_mail(subject: str) -> bytes:
    """What a mail client sends for the List-Unsubscribe mailto link."""
    return (
        "From: Person <p0@example.org>\r\nTo: unsubscribe@shop.example\r\n"
        f"Subject: {subject}\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n\r\n\r\n"
    ).encode()


def test_mailto_unsubscribe_in_the_mailbox_is_the_consolidated_opt_out(mailbox, verps):
    verps(2)
    person = subscriptions.find_subscriber("p0@example.org")
    link = messages.unsubscribe_mailto(tokens.sign(tokens.UNSUBSCRIBE, person.public_id))
    subject = unquote(link.split("subject=", 1)[1])  # exactly what the mailto link fills in
    mailbox.store.add(unsubscribe_mail(subject))
    mailbox.store.add(unsubscribe_mail("Re: unsubscribe not-a-valid-token-at-all"))

    assert bounce_mailbox.poll_mailbox() == {"unsubscribed": 1, "unreadable": 1}

    assert [still_subscribed(0), still_subscribed(1)] == [False, True]
    assert suppressed_everywhere("p0@example.org")


def suppressed_everywhere(address: str) -> bool:
    digest = address_hash(address)
    channels = set(
        db.session.scalars(select(Suppression.channel).where(Suppression.address_hash == digest))
    )
    return channels == set(Channel.ALL)
