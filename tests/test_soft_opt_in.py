"""Issue 13, problem 2 (soft opt-in): an own-similar-products topic is a deliberate,
audited choice with its product range written down, and a campaign that reaches existing
customers without their consent may not link to another company's site.

Admin tests run with CSRF on and the default configuration, as people run it.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from newsletter import campaigns, compliance
from newsletter.clock import utcnow
from newsletter.extensions import db
from newsletter.models import AuditEntry, Basis, Campaign, CampaignStatus, Delivery, Topic
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD

RANGE = "Garden tools, plants and seeds sold in our shop"
PARTNER_BODY = (
    "Our spring range is in: [spades](https://shop.example/spades).\n\n"
    "Also have a look at [our partner's loans](https://www.partnerbank.example/offer)."
)


def audit_entries(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# --- the product range, written down and audited ---------------------------------------


def test_soft_opt_in_topic_needs_product_range_on_the_command_line(runner):
    refused = runner.invoke(
        args=["topics", "create", "offers", "--name", "Offers", "--own-similar-products"]
    )
    assert refused.exit_code == 2
    assert "--own-similar-products needs --product-range TEXT" in refused.output
    assert "Nothing was created." in refused.output
    assert db.session.scalar(select(Topic).where(Topic.slug == "offers")) is None
    short = runner.invoke(
        args=["topics", "create", "offers", "--name", "Offers", "--own-similar-products",
              "--product-range", "stuff"]
    )  # fmt: skip
    assert short.exit_code == 1
    assert "needs its product range written down (at least 10 characters)" in short.output
    created = runner.invoke(
        args=["topics", "create", "offers", "--name", "Offers", "--own-similar-products",
              "--product-range", RANGE]
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    topic = db.session.scalar(select(Topic).where(Topic.slug == "offers"))
    assert (topic.own_similar_products, topic.product_range) == (True, RANGE)
    [entry] = audit_entries("topic.create")
    assert (entry.actor, entry.target) == ("cli", "offers")
    assert entry.detail == {"name": "Offers", "own_similar_products": True, "product_range": RANGE}
    assert entry.occurred_at is not None
    listed = runner.invoke(args=["topics", "list"]).output
    assert f"offers\tOffers\town-similar-products\t{RANGE}" in listed


@pytest.fixture
def app_config(app_config):
    # As people run it: CSRF on (the conftest default turns it off for unit tests).
    return {**app_config, "WTF_CSRF_ENABLED": True}


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


@pytest.fixture
def logged_in(client, admin_user):
    page = client.get("/admin/login").text
    data = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": csrf(page)}
    assert client.post("/admin/login", data=data).status_code == 302
    return client


def test_soft_opt_in_topic_needs_product_range_in_the_admin_and_is_audited(logged_in):
    token = csrf(logged_in.get("/admin/topics").text)
    form = {"slug": "offers", "name": "Offers", "own_similar_products": "y", "csrf_token": token}
    refused = logged_in.post("/admin/topics", data=form)
    assert refused.status_code == 400
    assert "needs its product range written down" in refused.text
    assert db.session.scalar(select(Topic).where(Topic.slug == "offers")) is None
    assert audit_entries("topic.create") == []
    created = logged_in.post("/admin/topics", data={**form, "product_range": RANGE})
    assert created.status_code == 302
    topic = db.session.scalar(select(Topic).where(Topic.slug == "offers"))
    assert topic.product_range == RANGE
    [entry] = audit_entries("topic.create")
    assert (entry.actor, entry.detail["own_similar_products"]) == (ADMIN_EMAIL, True)
    assert entry.detail["product_range"] == RANGE
    assert RANGE in logged_in.get("/admin/topics").text
    # Renaming it and changing its range are recorded too, with the old and new values.
    edit = f"/admin/topics/{topic.id}"
    token = csrf(logged_in.get(edit).text)
    changed = logged_in.post(
        edit,
        data={"name": "Garden offers", "own_similar_products": "y", "csrf_token": token,
              "product_range": RANGE + " and garden furniture"},
    )  # fmt: skip
    assert changed.status_code == 302
    [entry] = audit_entries("topic.edit")
    assert entry.actor == ADMIN_EMAIL
    assert entry.detail["changes"] == {
        "name": ["Offers", "Garden offers"],
        "product_range": [RANGE, RANGE + " and garden furniture"],
    }
    # Emptying the range of a topic still marked: refused, nothing changed.
    token = csrf(logged_in.get(edit).text)
    emptied = logged_in.post(
        edit,
        data={"name": "X", "own_similar_products": "y", "product_range": " ", "csrf_token": token},
    )
    assert emptied.status_code == 400
    assert "needs its product range written down" in emptied.text
    db.session.expire_all()
    assert db.session.get(Topic, topic.id).name == "Garden offers"
    assert len(audit_entries("topic.edit")) == 1


# --- a soft-opt-in campaign may not advertise another company -----------------------------


@pytest.fixture
def customers_topic(make_topic, make_subscriber):
    """An own-similar-products topic with one existing customer and one consenting fan."""
    make_topic("offers", "Offers", own_similar_products=True, product_range=RANGE)
    make_subscriber(
        "buyer@example.be",
        topics=("offers",),
        basis=Basis.EXISTING_CUSTOMER,
        purchased_at=utcnow() - timedelta(days=30),
    )
    make_subscriber("fan@example.be", topics=("offers",))
    return "offers"


def test_soft_opt_in_campaign_linking_to_another_company_is_refused(
    make_campaign, customers_topic, outbox
):
    campaign = make_campaign(body=PARTNER_BODY, topic_slug=customers_topic)
    with pytest.raises(campaigns.CampaignError) as refused:
        campaigns.start_sending(campaign)
    db.session.rollback()
    assert (
        "goes to 1 existing customer(s) without their consent and links to other companies' "
        "sites (www.partnerbank.example)" in str(refused.value)
    )
    assert "NEWSLETTER_OWN_DOMAINS" in str(refused.value)
    assert "U mag dus geen reclame (mee)sturen van een ander bedrijf" in str(refused.value)
    for language in ("nl", "fr", "en"):
        shown = campaigns.preview_message(campaign, None, language)
        assert any("links to other companies' sites" in p for p in shown.problems)
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.DRAFT
    assert db.session.scalar(select(Delivery.id)) is None
    assert outbox() == []


def test_soft_opt_in_campaign_to_own_domains_is_sent(app, make_campaign, customers_topic):
    app.config["OWN_DOMAINS"] = ["partnerbank.example"]  # the operator declares it their own
    campaign = make_campaign(body=PARTNER_BODY, topic_slug=customers_topic)
    assert campaigns.start_sending(campaign) == 2


def test_consent_only_campaign_may_link_to_other_companies(make_campaign, make_subscriber):
    make_subscriber("fan@example.be")
    campaign = make_campaign(body=PARTNER_BODY)
    assert campaigns.refusal_reasons(campaign) == []
    assert campaigns.start_sending(campaign) == 1


def test_soft_opt_in_topic_without_product_range_is_not_sent_to_customers(
    make_topic, make_subscriber, make_campaign
):
    """A topic marked before issue 13 (migration 0005 leaves its range empty)."""
    make_topic("old", "Old offers", own_similar_products=True, product_range="")
    make_subscriber(
        "buyer@example.be",
        topics=("old",),
        basis=Basis.EXISTING_CUSTOMER,
        purchased_at=utcnow() - timedelta(days=3),
    )
    with pytest.raises(campaigns.CampaignError, match="its product range is not written down"):
        campaigns.start_sending(make_campaign(topic_slug="old", body="Spades!"))


def test_own_domains_are_base_url_sender_and_configured(app):
    app.config["OWN_DOMAINS"] = ["www.shop-group.example"]
    own = compliance.own_domains(app.config)
    assert own == {"news.example.test", "shop.example", "shop-group.example"}
    body = (
        '<a href="https://blog.shop.example/x">a</a> <a href="https://shop-group.example/">b</a>'
        ' <a href="https://other.example/">c</a> <a href="mailto:x@else.example">d</a>'
    )
    assert compliance.foreign_link_hosts(body, own) == ["other.example"]
