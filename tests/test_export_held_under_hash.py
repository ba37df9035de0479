"""An access export holds what is kept under the keyed hash of the address: also the
markers of a lapsed basis (`LapsedBasis`) and the retired public ids of older links
(`RetiredPublicId`), for a former subscriber (`flask subscribers export EMAIL`) and in a
subscriber's own download (GDPR Art. 15(1), (3); EDPB Guidelines 01/2022 §§ 35-36).

The page test runs with CSRF on and the default configuration, as people run it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from newsletter import compliance, links, reconsent
from newsletter.clock import utcnow
from newsletter.extensions import db
from newsletter.models import Basis
from tests.helpers import links_in, mail_text
from tests.test_access_rights import (
    ADDRESS,
    LANGUAGES,
    _page,
    _subscribed,
    _tokens,
    people_app,  # noqa: F401  (fixture)
)


def test_former_subscriber_export_holds_lapsed_basis_markers_and_retired_public_ids(
    app, make_subscriber, runner
):
    purchased = utcnow() - timedelta(days=800)
    customer = make_subscriber(ADDRESS, basis=Basis.EXISTING_CUSTOMER, purchased_at=purchased)
    public_id = customer.public_id
    assert reconsent.end_lapsed_customer_basis(utcnow(), 730) == 1
    db.session.commit()

    result = runner.invoke(args=["subscribers", "export", ADDRESS])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert compliance.access_export_complete(data, former=True) == []
    assert data["subscriber"] is None
    [marker] = data["lapsed_bases"]
    assert marker["basis"] == Basis.EXISTING_CUSTOMER
    assert marker["evidence_date"][:10] == purchased.date().isoformat()
    assert [r["public_id"] for r in data["retired_public_ids"]] == [public_id]
    note = data["held_under_hash"]["note"]
    assert "random ids of the links in older messages" in note
    assert "lapsed customer basis" in note
    # Another address is answered with nothing of this person's.
    other = json.loads(runner.invoke(args=["subscribers", "export", "x@example.org"]).output)
    assert (other["lapsed_bases"], other["retired_public_ids"]) == ([], [])


NOTE = {
    "nl": "willekeurige codes van oudere links",
    "fr": "les codes aléatoires des anciens liens",
    "en": "random ids of older links",
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_download_my_data_holds_the_retired_public_ids_of_an_earlier_subscription(
    people_app,  # noqa: F811
    outbox,
    lang,
):
    app = people_app
    client = app.test_client()
    first = _subscribed(client, outbox, lang)
    old_id = first.public_id
    client.post(urlsplit(links.unsubscribe_url(old_id)).path)  # opt-out = erasure
    person = _subscribed(client, outbox, lang)  # back later, under a new id
    assert person.public_id != old_id
    preferences = urlsplit(links.preferences_url(person.public_id)).path
    page = _page(client, preferences).text
    client.post(f"{preferences}/export", data={"csrf_token": _tokens(page)["csrf_token"]})
    mail = outbox(ADDRESS)[-1]
    link = urlsplit(next(u for u in links_in(mail_text(mail)) if "/export/" in u)).path
    page = _page(client, link)
    download = client.post(link, data={"csrf_token": _tokens(page.text)["csrf_token"]})
    assert download.status_code == 200
    data = download.json
    assert compliance.access_export_complete(data) == []
    assert [r["public_id"] for r in data["retired_public_ids"]] == [old_id]
    assert data["lapsed_bases"] == []
    assert NOTE[lang] in data["held_under_hash"]["note"]
