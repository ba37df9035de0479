"""One test per legal rule of the imports/objections area (named after the rule)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from newsletter import compliance
from newsletter.compliance import ComplianceError
from newsletter.models import Channel
from tests.helpers import aware

NOW = aware(2026, 3, 2, 12)


@pytest.mark.parametrize(
    "source",
    [
        "list purchased from MarketingCo",
        "adressenbestand gekocht bij LeadCo",
        "acheté un fichier clients chez DataPro",
        "newsletter box was pre-ticked",
        "webshop checkout 2025, box ticked",
    ],
)
def test_require_own_contacts_declaration(source):
    """The declaration decides, not the words of the source: without it every source is
    refused (the old keyword guess let these four through), with it none is judged."""
    with pytest.raises(ComplianceError, match="Confirm that every person in the file"):
        compliance.require_own_contacts_declaration(source, declared=False)
    compliance.require_own_contacts_declaration(source, declared=True)
    with pytest.raises(ComplianceError, match="at least 10 characters"):
        compliance.require_own_contacts_declaration("  shop   ", declared=True)
    assert not hasattr(compliance, "_BOUGHT_LIST_WORDS")
    assert not hasattr(compliance, "require_import_declaration")


def test_missing_consent_evidence():
    complete = (NOW, "Yes, send me the newsletter", None, "shop.example/form", "double opt-in", "X")
    assert compliance.missing_consent_evidence(*complete) == []
    by_reference = (NOW, None, "form v2 (archived)", "shop counter", "signed form", "paper")
    assert compliance.missing_consent_evidence(*by_reference) == []
    assert compliance.missing_consent_evidence(NOW, None, None, None, None, None) == [
        "consent_text or consent_text_ref",
        "consent_where",
        "consent_how",
        "consent_system",
    ]
    assert compliance.missing_consent_evidence(None, *complete[1:]) == ["consented_at"]


def test_imported_purchase_current():
    days = 730
    assert compliance.imported_purchase_current(NOW - timedelta(days=729), NOW, days)
    assert not compliance.imported_purchase_current(NOW - timedelta(days=730), NOW, days)
    assert not compliance.imported_purchase_current(aware(2021, 5, 1), NOW, days)  # 2021
    assert not compliance.imported_purchase_current(NOW + timedelta(seconds=1), NOW, days)


def test_customer_optout_offered_at_collection():
    assert compliance.customer_optout_offered_at_collection("checkout box 'no offers', unticked")
    assert not compliance.customer_optout_offered_at_collection("")
    assert not compliance.customer_optout_offered_at_collection("   ")
    assert not compliance.customer_optout_offered_at_collection(None)


def test_imported_evidence_already_lapsed():
    lapsed = aware(2024, 1, 10)
    assert compliance.imported_evidence_already_lapsed(lapsed, lapsed)  # the same purchase
    assert compliance.imported_evidence_already_lapsed(aware(2023, 6, 1), lapsed)  # older
    assert compliance.imported_evidence_already_lapsed(None, lapsed)
    assert not compliance.imported_evidence_already_lapsed(aware(2026, 2, 1), lapsed)  # newer
    assert not compliance.imported_evidence_already_lapsed(aware(2026, 2, 1), None)


def test_imported_consent_current():
    interval = 730
    assert compliance.imported_consent_current(NOW - timedelta(days=729), NOW, interval)
    assert compliance.imported_consent_current(NOW, NOW, interval)
    assert not compliance.imported_consent_current(NOW - timedelta(days=730), NOW, interval)
    assert not compliance.imported_consent_current(NOW + timedelta(seconds=1), NOW, interval)


def test_objection_channels():
    assert compliance.objection_channels(None) == Channel.ALL
    assert compliance.objection_channels([]) == Channel.ALL
    assert compliance.objection_channels(["post", "email", "post"]) == ("email", "post")
