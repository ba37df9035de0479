"""The admin's pages say what is true: the test-send notice names what is taken from the
recipient chosen under "Preview as" (the language, nothing else), and the import page
shows periods in years and months as the public pages do.

`admin_client` runs with the suite's default test configuration (CSRF off): these tests
read the wording of the pages, and the CSRF-on paths of the same forms are covered by
tests/test_languages_sending.py (TestEmbeddedDefault) and tests/test_admin_csrf.py.
"""

from __future__ import annotations

import html
import re

import pytest

from newsletter.extensions import db
from newsletter.views.admin.campaigns import LANGUAGE_SAMPLE
from tests.helpers import mail_text

DRAFT = {"subject": "Spring news", "body_markdown": "Hello **friends**.", "topic": "newsletter"}
NAMES = {"nl": "Nederlands", "fr": "Français", "en": "English"}
TEST_BANNER = {"nl": "testbericht", "fr": "message de test", "en": "test message"}


def _notice(admin_client, response) -> str:
    page = admin_client.get(response.headers["Location"]).text
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.mark.parametrize("lang", ["nl", "fr", "en"])
def test_test_send_notice_says_only_the_subscribers_language_is_used(
    admin_client, make_subscriber, outbox, lang
):
    person = make_subscriber("jan@example.be", name="Jan Peeters")
    person.locale = lang
    db.session.commit()
    response = admin_client.post(
        "/admin/campaigns/new",
        data={
            **DRAFT,
            "action": "test",
            "test_address": "me@shop.example",
            "sample": person.public_id,
        },
    )
    assert response.status_code == 302, response.text
    notice = _notice(admin_client, response)
    assert (
        f"a test message is on its way to me@shop.example, in {NAMES[lang]}, the language of "
        "jan@example.be. Only the language is taken from the recipient chosen"
    ) in notice
    assert "would get it" not in notice  # it is not what that subscriber would get
    [message] = outbox("me@shop.example")
    assert message["Content-Language"] == lang
    text = mail_text(message)
    assert "Jan Peeters" not in text  # indeed nothing else of theirs
    assert TEST_BANNER[lang] in text.lower()


def test_test_send_notice_for_a_fictional_sample_names_its_language(admin_client, outbox):
    response = admin_client.post(
        "/admin/campaigns/new",
        data={
            **DRAFT,
            "action": "test",
            "test_address": "me@shop.example",
            "sample": LANGUAGE_SAMPLE + "fr",
        },
    )
    notice = _notice(admin_client, response)
    assert "a test message is on its way to me@shop.example, in Français. Only" in notice
    assert "in Français, the language of" not in notice


def test_import_page_shows_periods_in_years_and_months(app, admin_client):
    app.config.update(RECONSENT_INTERVAL_DAYS=730, CUSTOMER_BASIS_DAYS=1095)
    page = admin_client.get("/admin/import", headers={"Accept-Language": "en"}).text
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "consented_at (less than 2 years ago)" in text
    assert "purchased_at (less than 3 years ago)" in text
    assert "730 days" not in text
    assert "1095 days" not in text
    # An admin without a choice and a Dutch browser reads the page, and its periods, in Dutch.
    page = admin_client.get("/admin/import", headers={"Accept-Language": "nl"}).text
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "consented_at (minder dan 2 jaar geleden)" in text
    assert "purchased_at (minder dan 3 jaar geleden)" in text
