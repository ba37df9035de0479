"""Outgoing webhooks: queued with the change (an outbox), sent after the commit by the
job, signed with HMAC-SHA256, retried with backoff, logged without personal data."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from newsletter import clock, events, links, subscriptions, webhooks
from newsletter.extensions import db
from newsletter.models import WebhookDelivery
from tests.helpers import confirm_path, free_port, signup
from tests.timetravel import rows_mentioning


class Receiver:
    """A real HTTP server on loopback: records each request, answers `statuses` in turn
    (200 once they run out)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def payloads(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver():
    found = Receiver()
    found.thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture
def add_webhook(runner):
    """`flask webhooks add URL --event ...`; returns the secret it printed once."""

    def add(url, *kinds):
        args = ["webhooks", "add", url]
        for kind in kinds or events.KINDS:
            args += ["--event", kind]
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        return result.stdout.strip().splitlines()[1]

    return add


def run_due(runner, at=None) -> dict:
    args = ["jobs", "run-due"] + (["--as-of", at.isoformat()] if at else [])
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def verify(request: dict, secret: str) -> bool:
    """What a receiver does (docs/API.md): recompute the signature over timestamp.body."""
    timestamp = request["headers"]["X-Newsletter-Timestamp"]
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + request["body"], hashlib.sha256
    ).hexdigest()
    given = request["headers"]["X-Newsletter-Signature"]
    return hmac.compare_digest(given, f"sha256={expected}")


def deliveries():
    db.session.expire_all()
    return db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def test_confirmation_is_posted_signed_after_the_commit_without_the_address(
    client, runner, receiver, add_webhook, outbox
):
    secret = add_webhook(receiver.url, events.SUBSCRIBER_CONFIRMED)
    signup(client, "jan@example.org")
    path = confirm_path(outbox("jan@example.org")[0])
    assert client.post(path).status_code == 200
    assert receiver.requests == []  # queued with the change, never sent inside the request
    [queued] = deliveries()
    assert (queued.status, queued.attempts) == ("pending", 0)
    assert run_due(runner)["webhook-deliveries"] == 1
    [request] = receiver.requests
    assert verify(request, secret)
    assert not verify(request, "whsec_wrong")
    assert request["headers"]["X-Newsletter-Event"] == "subscriber.confirmed"
    assert request["headers"]["Content-Type"] == "application/json"
    [payload] = receiver.payloads()
    subscriber = subscriptions.find_subscriber("jan@example.org")
    assert payload["type"] == "subscriber.confirmed"
    assert payload["id"] == request["headers"]["X-Newsletter-Delivery"]
    assert payload["data"]["subscriber"]["id"] == subscriber.public_id
    assert payload["data"]["subscriber"]["topics"] == ["newsletter"]
    assert b"jan@example.org" not in request["body"]
    [done] = deliveries()
    assert (done.status, done.attempts, done.last_status_code) == ("delivered", 1, 200)
    assert run_due(runner)["webhook-deliveries"] == 0  # sent once


def test_unsubscribe_and_erasure_events_name_nobody_but_the_public_id(
    client, runner, receiver, add_webhook, make_subscriber
):
    secret = add_webhook(receiver.url, events.SUBSCRIBER_UNSUBSCRIBED, events.SUBSCRIBER_ERASED)
    ann = make_subscriber("ann@example.org")
    bob = make_subscriber("bob@example.org")
    ann_id, bob_id = ann.public_id, bob.public_id
    path = urlsplit(links.unsubscribe_url(ann_id)).path
    response = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert runner.invoke(args=["subscribers", "erase", "bob@example.org"]).exit_code == 0
    run_due(runner)
    by_kind = {p["type"]: p for p in receiver.payloads()}
    assert by_kind["subscriber.unsubscribed"]["data"] == {
        "subscriber": {"id": ann_id},
        "reason": "unsubscribed",
    }
    assert by_kind["subscriber.erased"]["data"]["subscriber"] == {"id": bob_id}
    assert all(verify(r, secret) for r in receiver.requests)
    for address in ("ann@example.org", "bob@example.org"):
        assert not any(address.encode() in r["body"] for r in receiver.requests)
        assert not [row for row in rows_mentioning(address) if row.startswith("webhook")]


def test_a_failing_receiver_is_retried_with_backoff_and_the_log_shows_it(
    runner, receiver, add_webhook, make_campaign, admin_client
):
    add_webhook(receiver.url, events.CAMPAIGN_SENT)
    receiver.statuses = [500]
    campaign = make_campaign()
    result = runner.invoke(args=["campaign", "send", str(campaign.id), "--wait"])
    assert result.exit_code == 0, result.output  # nobody on the list: sent at once
    start = clock.utcnow() + timedelta(hours=1)
    run_due(runner, start)
    [failed] = deliveries()
    assert (failed.status, failed.attempts, failed.last_status_code) == ("pending", 1, 500)
    assert failed.last_error == "HTTP 500"
    assert failed.next_attempt_at == start.replace(microsecond=start.microsecond) + timedelta(
        minutes=1
    )
    run_due(runner, start + timedelta(seconds=30))
    assert len(receiver.requests) == 1  # not yet: the backoff
    run_due(runner, start + timedelta(seconds=61))
    assert len(receiver.requests) == 2
    assert receiver.payloads()[0] == receiver.payloads()[1]  # the same event, retried
    [done] = deliveries()
    assert (done.status, done.attempts, done.last_status_code) == ("delivered", 2, 200)
    assert receiver.payloads()[1]["data"]["campaign"]["id"] == campaign.id
    page = admin_client.get("/admin/webhooks").text
    log = page[page.index('id="webhook-log"') :]
    assert "campaign.sent" in log
    assert re.search(r"<td>delivered</td><td>2</td>\s*<td>200</td>", log)


def test_backoff_doubles_and_gives_up_after_the_last_attempt(app, add_webhook):
    add_webhook("http://127.0.0.1:9/closed", events.CAMPAIGN_SENT)  # nothing listens there
    assert [webhooks.delay_after(n).total_seconds() / 60 for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert webhooks.delay_after(30) == timedelta(hours=12)
    events.emit(events.CAMPAIGN_SENT, {"campaign": {"id": 1}})
    db.session.commit()
    now = clock.utcnow()
    for _ in range(webhooks.MAX_ATTEMPTS):
        now += timedelta(hours=13)
        webhooks.deliver_due(now)
    [row] = deliveries()
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 12, None)
    assert row.last_status_code is None
    assert "Error" in row.last_error
    assert webhooks.deliver_due(now + timedelta(days=2)) == 0


def test_an_event_is_queued_only_with_its_transaction(app, add_webhook):
    add_webhook("https://crm.example.org/hooks")
    assert events.emit(events.CAMPAIGN_SENT, {"campaign": {"id": 1}}) == 1
    db.session.rollback()
    assert deliveries() == []
    assert events.emit("nobody.listens", {}) == 0


def test_the_log_is_purged_after_its_period(app, add_webhook):
    add_webhook("https://crm.example.org/hooks")
    events.emit(events.CAMPAIGN_SENT, {"campaign": {"id": 1}})
    db.session.commit()
    [row] = deliveries()
    row.status = "delivered"
    db.session.commit()
    later = clock.utcnow() + timedelta(days=31)
    assert webhooks.purge_log(later - timedelta(days=2), app.config) == 0
    assert webhooks.purge_log(later, app.config) == 1


def test_cli_adds_lists_and_removes_webhooks(runner, add_webhook):
    refused = runner.invoke(
        args=["webhooks", "add", "http://crm.example.org/h", "--event", "campaign.sent"]
    )
    assert refused.exit_code == 1
    assert "https only" in refused.output
    unknown = runner.invoke(args=["webhooks", "add", "https://x.example.org", "--event", "x"])
    assert unknown.exit_code == 2
    secret = add_webhook("https://crm.example.org/hooks", events.CAMPAIGN_SENT)
    assert secret.startswith("whsec_")
    listed = runner.invoke(args=["webhooks", "list"]).output
    assert "https://crm.example.org/hooks\tcampaign.sent" in listed
    assert secret not in listed
    endpoint_id = listed.split("\t")[0]
    assert runner.invoke(args=["webhooks", "remove", endpoint_id]).exit_code == 0
    assert runner.invoke(args=["webhooks", "list"]).output == ""
    assert runner.invoke(args=["webhooks", "remove", endpoint_id]).exit_code == 1


class TestAdminPage:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "WTF_CSRF_ENABLED": True}

    def test_admin_adds_a_webhook_sees_the_secret_once_and_removes_it(self, admin_client):
        page = admin_client.get("/admin/webhooks")
        assert page.status_code == 200
        assert "Webhooks" in page.text
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
        refused = admin_client.post(
            "/admin/webhooks",
            data={
                "url": "http://crm.example.org/h",
                "events": ["campaign.sent"],
                "csrf_token": csrf,
            },
        )
        assert refused.status_code == 400
        assert "https only" in refused.text
        added = admin_client.post(
            "/admin/webhooks",
            data={
                "url": "https://crm.example.org/hooks",
                "events": ["subscriber.confirmed", "campaign.sent"],
                "csrf_token": csrf,
            },
        )
        assert added.status_code == 200
        secret = re.search(r'id="new-webhook-secret">(whsec_[^<]+)<', added.text).group(1)
        again = admin_client.get("/admin/webhooks").text
        assert "https://crm.example.org/hooks" in again
        assert secret not in again
        assert "campaign.sent, subscriber.confirmed" in again
        endpoint = webhooks.list_endpoints()[0]
        assert endpoint.secret == secret
        no_token = admin_client.post(f"/admin/webhooks/{endpoint.id}/remove")
        assert no_token.status_code == 400
        assert len(webhooks.list_endpoints()) == 1
        removed = admin_client.post(
            f"/admin/webhooks/{endpoint.id}/remove", data={"csrf_token": csrf}
        )
        assert removed.status_code == 302
        db.session.expire_all()
        assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
        assert webhooks.list_endpoints() == []
