"""The privacy notice says truthfully what is kept after someone leaves: besides the keyed
hash (with the proof of consent), the random id of the links in older messages (retired
public ids) and, for a customer whose purchase became too old, the lapsed-basis marker,
with how long each is kept (GDPR Art. 13(2)(a), 12(1)); in NL, FR and EN."""

from __future__ import annotations

import pytest

from tests.test_privacy import text_of

KEPT = {
    "en": (
        "your address is deleted",
        "a keyed hash of it (not the address itself)",
        "the random id in the links of the messages we sent you",
        "a marker with the date of that purchase",
        "The random id of older links and the marker of a purchase that became too old: "
        "as long as we send newsletters",
    ),
    "nl": (
        "uw adres wordt verwijderd",
        "een hash ervan, berekend met een geheime sleutel (niet het adres zelf)",
        "de willekeurige code in de links van de berichten die wij u stuurden",
        "een markering met de datum van die aankoop",
        "De willekeurige code van oudere links en de markering van een te oud geworden "
        "aankoop: zolang wij nieuwsbrieven versturen",
    ),
    "fr": (
        "votre adresse est supprimée",
        "une empreinte (hash) de celle-ci, calculée avec une clé secrète",
        "le code aléatoire des liens des messages que nous vous avons envoyés",
        "une marque avec la date de cet achat",
        "Le code aléatoire des anciens liens et la marque d'un achat devenu trop ancien : "
        "aussi longtemps que nous envoyons des newsletters",
    ),
}
OLD_CLAIM = {
    "en": "only a keyed hash of your address",
    "nl": "alleen een hash van uw adres",
    "fr": "uniquement une empreinte (hash) de votre adresse",
}


@pytest.mark.parametrize("lang", ["nl", "fr", "en"])
def test_privacy_notice_names_the_retired_link_ids_and_the_lapsed_basis_marker(client, lang):
    page = text_of(client.get(f"/privacy?lang={lang}"))
    for words in KEPT[lang]:
        assert words in page, words
    assert OLD_CLAIM[lang] not in page  # "only a hash" was not true
