"""Rights: export (Art. 15) with everything held, erasure (Art. 17) as an opt-out, logged."""

from __future__ import annotations

import json

from sqlalchemy import func, select, text

from newsletter import links, rights, subscriptions
from newsletter.addresses import address_hash
from newsletter.defaults import DEFAULT_CONSENT_TEXT
from newsletter.extensions import db
from newsletter.models import (
    Basis,
    Campaign,
    Channel,
    ConsentEvent,
    Delivery,
    DeliveryStatus,
    RightsRequest,
    Subscriber,
    Suppression,
)
from tests.helpers import (
    BASE_URL,
    aware,
    confirm_path,
    links_in,
    mail_text,
    save_preferences,
    signup,
)


def _journey(client, outbox, make_topic, runner, tmp_path) -> Subscriber:
    """Sign up, confirm, add a topic, drop one, object on SMS, get one campaign."""
    make_topic("offers")
    make_topic("events")
    signup(client, "ann@example.org", topics=("newsletter", "offers"))
    client.post(confirm_path(outbox("ann@example.org")[0]))
    ann = subscriptions.find_subscriber("ann@example.org")
    prefs = links.preferences_url(ann.public_id).removeprefix(BASE_URL)
    save_preferences(client, prefs, ["newsletter", "events"])
    csv_path = tmp_path / "more.csv"
    csv_path.write_text(
        "email,topics,consented_at,consent_text_ref,consent_where,consent_how,consent_system\n"
        "ann@example.org,offers,2025-01-01,counter form v1,shop counter,signed form,paper\n"
    )
    runner.invoke(
        args=[
            "subscribers",
            "import",
            str(csv_path),
            "--basis",
            "consent",
            "--source",
            "shop counter form 2025",
            "--own-contacts",
        ]
    )
    subscriptions.suppress(address_hash("ann@example.org"), "objection", [Channel.SMS])
    ann = subscriptions.find_subscriber("ann@example.org")
    campaign = Campaign(subject="Spring news", body_markdown="Hi", topic_id=1)
    db.session.add(campaign)
    db.session.flush()
    db.session.add(
        Delivery(
            campaign_id=campaign.id,
            subscriber_id=ann.id,
            status=DeliveryStatus.SENT,
            sent_at=aware(2026, 1, 1),
            attempts=1,
        )
    )
    db.session.commit()
    return ann


def test_export_contains_every_consent_event_with_its_text(
    client, outbox, make_topic, runner, tmp_path
):
    _journey(client, outbox, make_topic, runner, tmp_path)
    result = runner.invoke(args=["subscribers", "export", "ANN@example.org"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    stored = db.session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.subject_hash == address_hash("ann@example.org"))
        .order_by(ConsentEvent.id)
    ).all()
    kinds = [e["kind"] for e in data["consent_events"]]
    assert kinds == [e.kind for e in stored]
    assert kinds == ["signup", "confirm", "withdraw", "preferences", "import"]
    by_kind = {e["kind"]: e for e in data["consent_events"]}
    for kind in ("signup", "confirm", "preferences"):
        assert by_kind[kind]["consent_text"]["text"] == DEFAULT_CONSENT_TEXT
        assert by_kind[kind]["consent_text"]["version"] == 1
    assert by_kind["signup"]["topics"] == ["newsletter", "offers"]
    assert by_kind["withdraw"]["topics"] == ["offers"]
    assert by_kind["import"]["source"] == "shop counter form 2025"
    assert data["email"] == "ann@example.org"
    assert [d["subject"] for d in data["deliveries"]] == ["Spring news"]
    assert data["deliveries"][0]["status"] == "sent"
    assert data["objections"] == [
        {"channel": "sms", "reason": "objection", "since": data["objections"][0]["since"]}
    ]
    whys = {s["topic"]: s["why"] for s in data["subscriptions"]}
    assert set(whys) == {"newsletter", "events", "offers"}
    assert "confirmed your consent on" in whys["newsletter"]


def test_export_states_the_existing_customer_basis(make_subscriber, make_topic):
    make_topic("shoes", own_similar_products=True)
    cat = make_subscriber(
        "cat@example.org",
        topics=("shoes",),
        basis=Basis.EXISTING_CUSTOMER,
        purchased_at=aware(2025, 11, 20),
    )
    data = rights.request_export(cat, channel="admin")
    [item] = data["subscriptions"]
    assert item["basis"] == "existing-customer"
    assert "(purchase on 2025-11-20)" in item["why"]
    assert "our own similar products" in item["why"]


def test_export_from_the_preferences_page_is_logged(client, make_subscriber, outbox):
    ann = make_subscriber("ann@example.org")
    path = links.preferences_url(ann.public_id).removeprefix(BASE_URL)
    client.post(f"{path}/export")  # mails a download link to the address (issue 13)
    [mail] = outbox("ann@example.org")
    link = next(u for u in links_in(mail_text(mail)) if "/export/" in u)
    response = client.post(link.removeprefix(BASE_URL))
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.json["email"] == "ann@example.org"
    [logged] = response.json["rights_requests"]  # this very request, not yet completed
    assert (logged["kind"], logged["channel"], logged["completed_at"]) == ("export", "mail", None)
    db.session.expire_all()
    request = db.session.scalar(select(RightsRequest))
    assert (request.kind, request.channel) == ("export", "mail")
    assert request.subject_hash == address_hash("ann@example.org")
    assert request.completed_at is not None


def test_erasure_is_an_opt_out_and_leaves_no_address(runner, make_subscriber, app):
    make_subscriber("ann@example.org", name="Ann Example")
    signup_event_hash = address_hash("ann@example.org")
    result = runner.invoke(args=["subscribers", "erase", "ann@example.org"])
    assert result.exit_code == 0
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0
    channels = set(
        db.session.scalars(
            select(Suppression.channel).where(Suppression.address_hash == signup_event_hash)
        )
    )
    assert channels == set(Channel.ALL)
    request = db.session.scalar(select(RightsRequest))
    assert (request.kind, request.channel, request.subject_hash) == (
        "erasure",
        "cli",
        signup_event_hash,
    )
    event = db.session.scalar(select(ConsentEvent).where(ConsentEvent.kind == "erase"))
    assert event.subscriber_id is None
    assert event.subject_hash == signup_event_hash
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(text(f'SELECT * FROM "{table.name}"')).all()
        assert "ann@example.org" not in repr(rows), table.name
        assert "Ann Example" not in repr(rows), table.name


def test_a_second_export_lists_the_earlier_request(make_subscriber):
    ann = make_subscriber("ann@example.org")
    rights.request_export(ann, channel="cli")
    db.session.commit()
    data = rights.request_export(ann, channel="admin")
    assert [r["channel"] for r in data["rights_requests"]] == ["cli"]
