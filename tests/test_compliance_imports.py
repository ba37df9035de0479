"""One test per legal rule of the imports/objections area (named after the rule)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from newsletter import compliance
from newsletter.compliance import ComplianceError
from newsletter.models import Channel
from tests.conftest import aware

NOW = aware(2026, 3, 2, 12)


@pytest.mark.parametrize(
    "source",
    [
        "bought list from leads-r-us",
        "purchased email list 2025",
        "Rented mailing list",
        "data broker Acme",
        "third-party partner database",
        "co-registration campaign with partner",
        "gekochte adressen bestand",
        "fichier acheté chez un partenaire",
    ],
)
def test_require_import_declaration_refuses_bought_lists(source):
    with pytest.raises(ComplianceError, match="bought, rented or third-party"):
        compliance.require_import_declaration(source, consent_given_to_us=True)


def test_require_import_declaration():
    compliance.require_import_declaration("webshop checkout 2025, box ticked", True)
    compliance.require_import_declaration("customers who bought shoes in our shop", True)
    with pytest.raises(ComplianceError, match="at least 10 characters"):
        compliance.require_import_declaration("  shop   ", True)
    with pytest.raises(ComplianceError, match="Confirm that every person"):
        compliance.require_import_declaration("webshop checkout 2025, box ticked", False)


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
