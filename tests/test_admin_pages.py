"""Admin pages: dashboard, topics, subscribers, consent texts, outbox."""

from __future__ import annotations

import re

from sqlalchemy import select

from newsletter import subscriptions
from newsletter.extensions import db
from newsletter.models import ConsentText, OutboxMessage, SubscriberStatus, Topic
from tests.helpers import confirm_path, signup


def row_of(html: str, text: str) -> str:
    """The table row that contains `text`, with tags removed and spaces squeezed."""
    for row in re.findall(r"<tr>.*?</tr>", html, flags=re.S):
        if text in row:
            return " ".join(re.sub(r"<[^>]+>", " ", row).split())
    raise AssertionError(f"no row with {text!r}")


def test_dashboard_counts_subscribers_per_topic_and_status(
    admin_client, make_topic, make_subscriber
):
    make_topic("offers", "Offers", own_similar_products=True)
    make_subscriber("a@example.org", topics=("newsletter", "offers"))
    make_subscriber("b@example.org", topics=("newsletter",))
    make_subscriber("c@example.org", topics=("offers",), status=SubscriberStatus.PENDING)
    page = admin_client.get("/admin/")
    assert page.status_code == 200
    assert row_of(page.text, "Newsletter").startswith("Newsletter newsletter 2 0 consent only")
    assert row_of(page.text, "Offers").startswith("Offers offers 1 1 may receive")
    stats = " ".join(re.sub(r"<[^>]+>", " ", page.text).split())
    assert "2 active" in stats
    assert "1 awaiting confirmation" in stats
    assert "No campaigns yet." in page.text


def test_create_topic_from_the_admin(admin_client):
    response = admin_client.post(
        "/admin/topics",
        data={
            "slug": "offers",
            "name": "Offers",
            "own_similar_products": "y",
            "product_range": "Garden tools and plants",
        },
    )
    assert response.status_code == 302
    topic = db.session.scalar(select(Topic).where(Topic.slug == "offers"))
    assert (topic.name, topic.own_similar_products) == ("Offers", True)
    assert "Offers" in admin_client.get("/admin/topics").text


def test_create_topic_with_a_bad_or_taken_slug_explains_and_saves_nothing(admin_client):
    bad = admin_client.post("/admin/topics", data={"slug": "Big Offers!", "name": "Offers"})
    assert bad.status_code == 400
    assert "lower-case letters, digits and dashes" in bad.text
    taken = admin_client.post("/admin/topics", data={"slug": "newsletter", "name": "Again"})
    assert taken.status_code == 400
    assert "exists already" in taken.text
    unnamed = admin_client.post("/admin/topics", data={"slug": "x", "name": ""})
    assert unnamed.status_code == 400
    assert "A topic needs a name." in unnamed.text
    assert db.session.scalars(select(Topic.slug)).all() == ["newsletter"]


def test_edit_topic_changes_name_and_flag_but_never_the_slug(admin_client):
    topic = db.session.scalar(select(Topic))
    page = admin_client.get(f"/admin/topics/{topic.id}")
    assert "cannot change" in page.text
    response = admin_client.post(
        f"/admin/topics/{topic.id}",
        data={
            "slug": "renamed",
            "name": "Monthly news",
            "own_similar_products": "y",
            "product_range": "Garden tools and plants",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    topic = db.session.get(Topic, topic.id)
    assert (topic.slug, topic.name, topic.own_similar_products) == (
        "newsletter",
        "Monthly news",
        True,
    )
    assert admin_client.get("/admin/topics/999").status_code == 404


def test_subscriber_search_by_address_part_and_status(admin_client, make_subscriber):
    make_subscriber("ann@example.org")
    make_subscriber("bob@example.org")
    make_subscriber("ann.pending@other.test", status=SubscriberStatus.PENDING)
    found = admin_client.get("/admin/subscribers?q=ANN").text
    assert "ann@example.org" in found
    assert "ann.pending@other.test" in found
    assert "bob@example.org" not in found
    pending = admin_client.get("/admin/subscribers?q=ann&status=pending").text
    assert "ann.pending@other.test" in pending
    assert "ann@example.org" not in pending
    # LIKE wildcards in the search text are taken literally.
    assert "No subscriber matches." in admin_client.get("/admin/subscribers?q=%25").text


def test_subscriber_detail_shows_the_consent_history(admin_client, outbox):
    # The public pages through the admin's client: the tests' shared app context would
    # otherwise let Flask-Login's per-request user cache (in `g`) leak between clients.
    signup(admin_client, "ann@example.org")
    admin_client.post(confirm_path(outbox()[0]))
    person = subscriptions.find_subscriber("ann@example.org")
    page = admin_client.get(f"/admin/subscribers/{person.public_id}").text
    assert re.search(r"<strong>signup</strong>.*<strong>confirm</strong>", page, flags=re.S)
    assert "double opt-in link" in page
    assert "Consent text en v1" in page
    assert "Export data (JSON)" in page


def test_consent_text_edit_makes_a_new_version_and_keeps_the_old(admin_client):
    old = subscriptions.current_consent_text()
    old_text = old.text
    response = admin_client.post("/admin/consent-texts", data={"text": "New wording, v2."})
    assert response.status_code == 302
    db.session.expire_all()
    versions = db.session.scalars(
        select(ConsentText).where(ConsentText.locale == "en").order_by(ConsentText.version)
    ).all()
    assert [(v.version, v.text) for v in versions] == [(1, old_text), (2, "New wording, v2.")]
    page = admin_client.get("/admin/consent-texts").text
    assert "Version 1" in page
    assert "Version 2" in page
    assert "New wording, v2." in admin_client.get("/subscribe").text
    same = admin_client.post("/admin/consent-texts", data={"text": "New wording, v2."})
    assert same.status_code == 302
    assert len(db.session.scalars(select(ConsentText).where(ConsentText.locale == "en")).all()) == 2
    empty = admin_client.post("/admin/consent-texts", data={"text": "  "})
    assert empty.status_code == 400
    assert "cannot be empty" in empty.text


def test_reverting_to_an_old_consent_text_says_it_is_not_a_new_version(admin_client):
    old_text = subscriptions.current_consent_text().text
    admin_client.post("/admin/consent-texts", data={"text": "New wording, v2."})
    back = admin_client.post("/admin/consent-texts", data={"text": old_text}, follow_redirects=True)
    assert "is English version 1 already" in back.text
    assert subscriptions.current_consent_text().version == 2


def test_outbox_lists_and_shows_kept_mail(admin_client, outbox):
    signup(admin_client, "ann@example.org")
    listing = admin_client.get("/admin/outbox")
    assert listing.status_code == 200
    assert "ann@example.org" in listing.text
    message_id = db.session.scalar(select(OutboxMessage.id))
    shown = admin_client.get(f"/admin/outbox/{message_id}")
    assert shown.status_code == 200
    assert "Please confirm your subscription" in shown.text
    assert "/confirm/" in shown.text
    assert "sandbox" in shown.text
    assert admin_client.get("/admin/outbox/999").status_code == 404


def test_outbox_is_hidden_when_an_smtp_server_is_configured(app, admin_client):
    app.config["MAIL_SERVER"] = "127.0.0.1"
    response = admin_client.get("/admin/outbox")
    assert response.status_code == 404
    assert "An SMTP server is configured" in response.text
    assert ">Outbox<" not in admin_client.get("/admin/").text


def test_admin_pages_fit_a_phone(admin_client):
    page = admin_client.get("/admin/").text
    assert 'name="viewport"' in page
    assert "table-wrap" in page  # wide tables scroll inside their box, not the page
