"""Compose, preview, test send, schedule, send, progress and cancel from the admin."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from newsletter import clock, sending
from newsletter.addresses import address_hash
from newsletter.clock import utcnow
from newsletter.extensions import db
from newsletter.models import AuditEntry, Campaign, CampaignStatus, Delivery
from tests.helpers import mail_text

DRAFT = {"subject": "Spring news", "body_markdown": "Hello **friends**.", "topic": "newsletter"}


def make_draft(admin_client, **fields) -> Campaign:
    response = admin_client.post("/admin/campaigns/new", data={**DRAFT, **fields})
    assert response.status_code == 302, response.text
    return db.session.scalar(select(Campaign).order_by(Campaign.id.desc()))


def audit_actions() -> list[tuple[str, str]]:
    db.session.expire_all()
    return [
        (e.action, e.target) for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    ]


def test_compose_saves_a_draft(admin_client):
    page = admin_client.get("/admin/campaigns/new")
    assert page.status_code == 200
    assert "Preview" in page.text
    campaign = make_draft(admin_client)
    assert (campaign.subject, campaign.status, campaign.topic.slug) == (
        "Spring news",
        CampaignStatus.DRAFT,
        "newsletter",
    )
    assert campaign.created_by == "boss@shop.example"
    assert "Spring news" in admin_client.get(f"/admin/campaigns/{campaign.id}").text


def test_compose_with_missing_fields_explains_and_saves_nothing(admin_client):
    response = admin_client.post(
        "/admin/campaigns/new", data={**DRAFT, "subject": "", "body_markdown": ""}
    )
    assert response.status_code == 400
    assert "A subject is required." in response.text
    assert "The body cannot be empty." in response.text
    assert db.session.scalar(select(Campaign)) is None
    line_break = admin_client.post("/admin/campaigns/new", data={**DRAFT, "subject": "a\r\nBcc: x"})
    assert line_break.status_code == 400
    assert "Line breaks" in line_break.text


def _shown_panels(page: str) -> list[str]:
    """The language panels of the compose page that are not hidden in the HTML itself."""
    panels = re.findall(
        r'<div role="tabpanel"[^>]*data-version="(\w+)" class="version-panel"([^>]*)>', page
    )
    return [code for code, rest in panels if "hidden" not in rest]


def test_compose_shows_one_language_panel_before_any_script_runs(admin_client):
    # A browser that has not run the page's script yet (or never does) sees one subject
    # field, the default language's: the other panels are hidden in the HTML.
    assert _shown_panels(admin_client.get("/admin/campaigns/new").text) == ["en"]
    refused = admin_client.post("/admin/campaigns/new", data={**DRAFT, "subject_nl": "a\r\nb"})
    assert refused.status_code == 400
    assert _shown_panels(refused.text) == ["nl"]  # the tab with the error comes first


def test_live_preview_renders_the_unsaved_form_as_the_chosen_recipient_sees_it(
    admin_client, make_subscriber
):
    person = make_subscriber("ann@example.org", name="Ann")
    data = {**DRAFT, "body_markdown": "Hi <script>alert(1)</script> **there**", "sample": ""}
    sample = admin_client.post("/admin/campaigns/preview", data=data)
    assert sample.status_code == 200
    assert "<strong>there</strong>" in sample.json["html"]
    assert "<script" not in sample.json["html"]
    assert "Unsubscribe from all" in sample.json["text"]
    as_ann = admin_client.post(
        "/admin/campaigns/preview", data={**data, "sample": person.public_id}
    ).json
    assert "/unsubscribe/" in as_ann["text"]
    assert as_ann["text"] != sample.json["text"]  # Ann's own links and consent date
    assert [person.public_id, "ann@example.org"] in as_ann["samples"]
    admin_client.post("/admin/campaigns/preview", data={**data, "sample": person.public_id})
    assert db.session.scalar(select(Campaign)) is None  # a preview stores nothing
    assert audit_actions().count(("campaign.preview", person.public_id)) == 1


def test_preview_offers_sample_recipients_of_the_chosen_topic(
    admin_client, make_topic, make_subscriber
):
    make_topic("offers", "Offers")
    make_subscriber("news@example.org", topics=("newsletter",))
    offers_reader = make_subscriber("offers@example.org", topics=("offers",))
    samples = admin_client.post("/admin/campaigns/preview", data={**DRAFT, "topic": "offers"}).json[
        "samples"
    ]
    assert samples == [
        ["", "Fictional sample (English)"],
        ["lang:nl", "Fictional sample (Nederlands)"],
        ["lang:fr", "Fictional sample (Français)"],
        [offers_reader.public_id, "offers@example.org"],
    ]
    missing = admin_client.post("/admin/campaigns/preview", data={**DRAFT, "topic": "nope"})
    assert missing.status_code == 400
    assert missing.json["error"] == "Choose a topic."


def test_test_send_mails_the_address_and_logs_only_its_hash(admin_client, outbox):
    response = admin_client.post(
        "/admin/campaigns/new", data={**DRAFT, "action": "test", "test_address": "Me@Shop.Example"}
    )
    assert response.status_code == 302
    [message] = outbox()
    assert message["Subject"] == "[TEST] Spring news"
    assert message["To"] == "me@shop.example"
    assert "Unsubscribe from all" in mail_text(message)
    campaign = db.session.scalar(select(Campaign))
    assert campaign.status == CampaignStatus.DRAFT
    [entry] = [
        e for e in db.session.scalars(select(AuditEntry)) if e.action == "campaign.test-send"
    ]
    assert entry.detail == {"to": address_hash("me@shop.example")}
    follow = admin_client.get(response.headers["Location"])
    assert "a test message is on its way to me@shop.example" in follow.text


def test_test_send_to_a_bad_address_explains(admin_client, outbox):
    response = admin_client.post(
        "/admin/campaigns/new", data={**DRAFT, "action": "test", "test_address": "nope"}
    )
    assert response.status_code == 400
    assert "Test address" in response.text
    assert outbox() == []


def test_schedule_needs_a_future_time(admin_client):
    campaign = make_draft(admin_client)
    past = admin_client.post(
        f"/admin/campaigns/{campaign.id}",
        data={**DRAFT, "action": "schedule", "send_at": "2020-01-01T09:00"},
    )
    assert past.status_code == 400
    assert "in the past" in past.text
    missing = admin_client.post(
        f"/admin/campaigns/{campaign.id}", data={**DRAFT, "action": "schedule"}
    )
    assert "Choose the date and time" in missing.text
    at = (utcnow() + timedelta(days=2)).replace(second=0, microsecond=0)
    done = admin_client.post(
        f"/admin/campaigns/{campaign.id}",
        data={**DRAFT, "action": "schedule", "send_at": at.strftime("%Y-%m-%dT%H:%M")},
    )
    assert done.status_code == 302
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign.id)
    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaign.scheduled_at == clock.from_local(at.replace(tzinfo=None))  # Brussels time
    cancel = admin_client.post(f"/admin/campaigns/{campaign.id}/cancel")
    assert cancel.status_code == 302
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.CANCELLED


def test_send_now_asks_first_then_queues_and_reports_progress(admin_client, make_subscriber):
    for n in range(3):
        make_subscriber(f"p{n}@example.org")
    campaign = make_draft(admin_client)
    ask = admin_client.post(f"/admin/campaigns/{campaign.id}", data={**DRAFT, "action": "send"})
    assert ask.headers["Location"] == f"/admin/campaigns/{campaign.id}/send"
    confirm = admin_client.get(ask.headers["Location"])
    assert "Send to 3 people" in confirm.text
    assert db.session.scalar(select(Delivery)) is None  # nothing queued before the click
    sent = admin_client.post(f"/admin/campaigns/{campaign.id}/send")
    assert sent.headers["Location"] == f"/admin/campaigns/{campaign.id}/progress"
    status = admin_client.get(f"/admin/campaigns/{campaign.id}/status.json").json
    assert (status["status"], status["total"], status["queued"], status["percent"]) == (
        "sending",
        3,
        3,
        0,
    )
    progress = admin_client.get(f"/admin/campaigns/{campaign.id}/progress").text
    assert "<progress" in progress
    assert "Cancel sending" in progress
    sending.send_pending("test-worker")
    status = admin_client.get(f"/admin/campaigns/{campaign.id}/status.json").json
    assert (status["status"], status["sent"], status["percent"]) == ("sent", 3, 100)
    assert status["figures"]["delivered"] == 3  # what the progress page's poll shows
    assert "Cancel sending" not in admin_client.get(f"/admin/campaigns/{campaign.id}/progress").text
    assert ("campaign.send", f"campaign:{campaign.id}") in audit_actions()


def test_cancel_stops_what_is_still_queued(admin_client, make_subscriber):
    for n in range(2):
        make_subscriber(f"p{n}@example.org")
    campaign = make_draft(admin_client)
    admin_client.post(f"/admin/campaigns/{campaign.id}/send")
    response = admin_client.post(f"/admin/campaigns/{campaign.id}/cancel", follow_redirects=True)
    assert "nothing more of it will be sent" in response.text
    assert sending.send_pending("test-worker").get("sent", 0) == 0
    status = admin_client.get(f"/admin/campaigns/{campaign.id}/status.json").json
    assert (status["status"], status["skipped"], status["sent"]) == ("cancelled", 2, 0)


def test_a_sent_campaign_cannot_be_edited_or_sent_again(admin_client, make_subscriber):
    make_subscriber()
    campaign = make_draft(admin_client)
    admin_client.post(f"/admin/campaigns/{campaign.id}/send")
    sending.send_pending("test-worker")
    page = admin_client.get(f"/admin/campaigns/{campaign.id}")
    assert page.headers["Location"] == f"/admin/campaigns/{campaign.id}/progress"
    edit = admin_client.post(f"/admin/campaigns/{campaign.id}", data={**DRAFT, "subject": "New"})
    assert edit.status_code == 400
    assert "cannot be edited" in edit.text
    again = admin_client.post(f"/admin/campaigns/{campaign.id}/send", follow_redirects=True)
    assert "cannot be sent" in again.text
    assert len(db.session.scalars(select(Delivery)).all()) == 1


def test_dashboard_and_list_show_campaigns(admin_client):
    campaign = make_draft(admin_client)
    for url in ("/admin/", "/admin/campaigns"):
        page = admin_client.get(url).text
        assert f'/admin/campaigns/{campaign.id}"' in page
        assert "Spring news" in page
    assert admin_client.get("/admin/campaigns/999").status_code == 404
