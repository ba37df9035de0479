"""Hypothesis fuzzing: arbitrary tokens, addresses, CSV rows, Markdown, header values
and bounce reports give a documented error or a correct result; never a 500.

The examples do not change the database (bad input changes nothing), so one app per
test serves every example.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from newsletter import (
    addresses,
    api_tokens,
    bounces,
    campaigns,
    compliance,
    imports,
    messages,
    tokens,
)
from newsletter.compliance import ComplianceError
from newsletter.extensions import db
from newsletter.models import Topic

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TEXT = st.text(st.characters(codec="utf-8"), max_size=300)
ASCII_JUNK = st.text(st.characters(min_codepoint=1, max_codepoint=0x7F), max_size=200)
TOKEN_TEXT = st.one_of(
    TEXT, ASCII_JUNK, st.from_regex(r"[A-Za-z0-9_\-]{1,40}\.[A-Za-z0-9_\-.]{0,80}")
)


def outcome(call, *documented):
    """(result, None) or (None, the error's message) for the documented exceptions."""
    try:
        return call(), None
    except documented as exc:
        return None, str(exc)


@pytest.fixture
def topic(app) -> Topic:
    return db.session.scalar(select(Topic).where(Topic.slug == "newsletter"))


@FUZZ
@given(text=TOKEN_TEXT)
def test_any_token_text_is_valid_or_a_documented_error(app, text):
    for purpose in tokens.PURPOSES:
        try:
            tokens.verify(purpose, text, max_age_seconds=3600)
        except (tokens.InvalidTokenError, tokens.ExpiredTokenError):
            pass


@FUZZ
@given(text=TOKEN_TEXT)
def test_any_token_in_a_link_gets_a_page_never_a_500(client, text):
    segment = quote(text, safe="") or "x"
    for method, path in [
        ("get", f"/confirm/{segment}"),
        ("post", f"/confirm/{segment}"),
        ("get", f"/preferences/{segment}"),
        ("post", f"/preferences/{segment}"),
        ("get", f"/unsubscribe/{segment}"),
        ("post", f"/unsubscribe/{segment}"),
        ("get", f"/reconsent/{segment}"),
    ]:
        response = getattr(client, method)(path, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code < 500, (method, path)
    db.session.rollback()


@FUZZ
@given(text=st.one_of(TEXT, st.emails().map(str)))
def test_any_address_normalises_or_is_invalid(app, text):
    result, error = outcome(lambda: addresses.normalise(text), addresses.InvalidAddressError)
    if error is not None:
        assert error  # a message that says why
        return
    assert result == result.strip().lower()
    assert "\n" not in result
    assert "\r" not in result
    assert addresses.normalise(result) == result  # idempotent


@FUZZ
@given(text=TEXT)
def test_any_signup_input_gets_an_answer_never_a_500(app, client, text):
    app.config["RATELIMIT_ENABLED"] = False
    response = client.post(
        "/subscribe", data={"email": text, "name": text, "topics": ["newsletter", text]}
    )
    assert response.status_code < 500
    db.session.rollback()


CELL = st.one_of(TEXT, st.emails().map(str), st.sampled_from(["newsletter", "2026-01-02", "nl"]))


@FUZZ
@given(rows=st.lists(st.lists(CELL, min_size=1, max_size=6), max_size=6), header=st.booleans())
def test_any_csv_rows_import_or_are_reported(app, rows, header):
    lines = (
        [["email", "name", "topics", "consented_at", "purchased_at", "locale"]] if header else []
    )
    buffer = io.StringIO()
    csv.writer(buffer).writerows(lines + rows)
    buffer.seek(0)
    report, error = outcome(
        lambda: imports.import_csv(buffer, "consent", "fuzz", True, dry_run=True),
        imports.ImportFileError,
        ComplianceError,
    )
    assert (report is None) != (error is None)
    if report is not None:  # every row has an outcome, each skipped one a reason
        assert all(row.reason for row in report.skipped())
    db.session.rollback()


@FUZZ
@given(body=TEXT, subject=TEXT)
def test_any_markdown_and_subject_build_a_compliant_message(app, topic, body, subject):
    campaign, error = outcome(
        lambda: campaigns.create_campaign(subject, body, topic), campaigns.CampaignError
    )
    if error is not None:
        assert error
        db.session.rollback()
        return
    recipient = messages.Recipient("ann@example.org", subject, "pub1", "consent", None)
    raw = messages.prepare(campaign).build(recipient)
    assert compliance.check_marketing_message(raw) == []  # the footer survives any body
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert len(parsed.get_all("Subject")) == 1
    assert "\n" not in str(parsed["Subject"])
    assert "<script" not in messages.render_body(body).lower()
    db.session.rollback()


@FUZZ
@given(value=TEXT)
def test_any_header_value_stays_one_header(app, value):
    cleaned = messages.clean_header_text(value)
    assert "\r" not in cleaned
    assert "\n" not in cleaned
    encoded = messages.encoded_header(value, "Subject")
    parsed = email.message_from_string(f"Subject: {encoded}\r\n\r\nx", policy=email.policy.default)
    assert list(parsed.keys()) == ["Subject"]


@pytest.fixture
def bounce_token(app) -> str:
    _row, secret = api_tokens.create_token("fuzz", [api_tokens.WRITE_BOUNCES])
    db.session.commit()
    return secret


@FUZZ
@given(raw=st.one_of(st.binary(max_size=2000), TEXT.map(str.encode)))
def test_any_bytes_posted_as_a_bounce_are_a_report_or_a_400(client, bounce_token, raw):
    report, error = outcome(lambda: bounces.parse(raw), bounces.ReportError)
    assert (report is None) != (error is None)
    response = client.post(
        "/inbound/bounces", data=raw, headers={"Authorization": f"Bearer {bounce_token}"}
    )
    assert response.status_code in (200, 400)
    db.session.rollback()


MIME_PIECES = st.sampled_from(
    [
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n",
        b"--b\r\nContent-Type: message/delivery-status\r\n\r\n",
        b"--b\r\nContent-Type: message/feedback-report\r\n\r\n",
        b"Action: failed\r\nStatus: 5.1.1\r\n",
        b"Action: failed\r\nStatus: 4.\xff\r\n",
        b"Feedback-Type: abuse\r\n",
        b"Diagnostic-Code: smtp; 550\r\n",
        b"\r\n",
        b"--b--\r\n",
        b"To: bounces+MTIz.abc@shop.example\r\n",
    ]
)


@FUZZ
@given(pieces=st.lists(MIME_PIECES, max_size=12))
def test_report_shaped_garbage_is_a_report_or_a_report_error(app, pieces):
    try:
        report = bounces.parse(b"".join(pieces))
    except bounces.ReportError:
        return
    assert report.kind in ("hard", "soft", "complaint", "ignored")
    assert report.delivery_id is None  # no valid signature in there


def test_nul_character_in_a_campaign_is_a_clear_error(app, topic):
    """Found by the fuzzer above on PostgreSQL (text cannot hold NUL): was a 500."""
    for subject, body in (("Hi\x00", "Body"), ("Hi", "Bo\x00dy")):
        with pytest.raises(campaigns.CampaignError, match="NUL"):
            campaigns.create_campaign(subject, body, topic)


HEADER_NAMES = st.sampled_from(
    [b"From", b"to", b"SUBJECT", b"Date", b"Message-ID", b"List-Id", b"List-Unsubscribe",
     b"List-Unsubscribe-Post", b"X-Other", b"Received"]
)  # fmt: skip
HEADER_VALUE = st.lists(
    st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    min_size=1,
    max_size=3,
).map(lambda lines: b"\r\n\t".join(lines).replace(b"\r\n\t", b"\r\n ", 1))


@FUZZ
@given(st.lists(st.tuples(HEADER_NAMES, st.sampled_from([b": ", b":", b":\t  "]), HEADER_VALUE)))
def test_dkim_header_canonicalisation_is_dkimpys(fields):
    """The signer's own header split, selection and relaxed canonicalisation give what
    dkimpy's give for any header block (verifiers canonicalise as dkimpy does)."""
    from dkim import rfc822_parse, select_headers
    from dkim.canonicalization import Relaxed

    from newsletter.sending import signing

    head = b"".join(name + sep + value + b"\r\n" for name, sep, value in fields)
    headers, body = rfc822_parse(head + b"\r\nbody\r\n")
    if fields:
        split = signing._split(head + b"\r\nbody\r\n")
        assert split == ([tuple(field) for field in headers], body)
    theirs = b"".join(
        name + b":" + value
        for name, value in Relaxed.canonicalize_headers(select_headers(headers, signing.H_TAG))
    )
    ours = b"".join(signing._relaxed(n, v) for n, v in signing._select(headers, signing.H_TAG))
    assert ours == theirs
