"""The sender's per-message shortcuts give exactly what the plain way gives: the prepared
link signer (tokens.link_signer) the tokens itsdangerous makes, and a prepared body's
base64 (slots.Slotted.base64) the lines `headers.base64_lines` writes."""

from __future__ import annotations

import secrets

from hypothesis import given
from hypothesis import strategies as st

from newsletter import tokens
from newsletter.headers import base64_lines
from newsletter.models import new_public_id
from newsletter.slots import Slotted


def test_a_public_id_gets_the_token_itsdangerous_makes(app):
    sign = tokens.link_signer(tokens.UNSUBSCRIBE)
    serializer = tokens._serializer(tokens.UNSUBSCRIBE, timed=False)
    for _ in range(500):
        public_id = new_public_id()
        assert sign(public_id) == serializer.dumps(public_id)
        assert tokens.verify(tokens.UNSUBSCRIBE, sign(public_id)) == public_id


def test_a_payload_zlib_would_shorten_still_verifies_under_its_own_purpose_only(app):
    sign = tokens.link_signer(tokens.PREFERENCES)
    repetitive = "a" * 40  # itsdangerous would compress this one; the signer does not
    token = sign(repetitive)
    assert tokens.verify(tokens.PREFERENCES, token) == repetitive
    for other in (tokens.UNSUBSCRIBE, tokens.CONFIRM):
        try:
            tokens.verify(other, token)
        except tokens.InvalidTokenError:
            continue
        raise AssertionError(f"a {tokens.PREFERENCES} token was read as {other}")


def test_other_payloads_take_itsdangerous_own_path(app):
    sign = tokens.link_signer(tokens.UNSUBSCRIBE)
    serializer = tokens._serializer(tokens.UNSUBSCRIBE, timed=False)
    for payload in ("with space", "é" + secrets.token_hex(4), ["unsubscribe", "nl"], 42):
        assert sign(payload) == serializer.dumps(payload)
        assert tokens.verify(tokens.UNSUBSCRIBE, sign(payload)) == payload


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=400)


@given(start=_TEXT, middle=_TEXT, end=_TEXT, first=_TEXT, second=_TEXT)
def test_a_prepared_body_in_base64_is_the_plain_encoding(start, middle, end, first, second):
    marks = {"one": "NLSLOTtestone", "two": "NLSLOTtesttwo"}
    body = Slotted(f"{start}NLSLOTtestone{middle}NLSLOTtesttwo{end}", marks)
    filled = body.fill({"one": first, "two": second})
    assert body.base64(filled) == base64_lines(filled)
    assert body.base64("not what fill made") == base64_lines("not what fill made")
