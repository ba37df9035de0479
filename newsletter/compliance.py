"""The legal rules the software enforces, each one function, in one place.

Views, the sender, the importer and the jobs call these; none of them re-implements a
rule. Each docstring names the rule's source (SPEC "Legal rules" numbering, the seed
documents in shared/legal-sources/, and COMPLIANCE-CHECKLIST.md items). Each rule has a
test named after it in tests/test_compliance.py. docs/COMPLIANCE.md is the index.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import html
import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlsplit

from flask import current_app, has_app_context
from sqlalchemy import ColumnElement, Exists, and_, exists, func, or_, select

from . import i18n, links, tokens
from .extensions import db
from .models import (
    Basis,
    Channel,
    ConfirmationSend,
    ConsentEvent,
    RequestKind,
    RetiredPublicId,
    RightsRequest,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
    Topic,
)


class ComplianceError(Exception):
    """An action the law does not allow; the message says which rule and why."""


# --- Rule 1: no marketing mail without a lawful basis ---------------------------------


def basis_allowed_for_topic(basis: str, topic: Topic) -> bool:
    """The existing-customer exception covers only the business's own similar products.

    Source: ePrivacy Directive Art. 13(2); Dutch Tw 11.7(3); Belgian KB 4-4-2003 art. 1;
    seed "direct-marketing-existing-customers"; checklist E1. SPEC rule 1.
    """
    if basis == Basis.CONSENT:
        return True
    return basis == Basis.EXISTING_CUSTOMER and bool(topic.own_similar_products)


def has_lawful_basis(subscriber: Subscriber, subscription: Subscription) -> bool:
    """May this subscriber get marketing mail on this subscription's topic?

    Only confirmed (double opt-in) consent, or the existing-customer exception with
    evidence of a purchase, for own-similar-products topics. A pending signup gets
    nothing but its confirmation mail (checklist D2). SPEC rule 1.
    """
    if subscriber.status != SubscriberStatus.ACTIVE or subscription.confirmed_at is None:
        return False
    if subscription.basis == Basis.EXISTING_CUSTOMER and subscriber.purchased_at is None:
        return False
    return basis_allowed_for_topic(subscription.basis, subscription.topic)


def lawful_recipients_condition(topic: Topic) -> ColumnElement[bool]:
    """`has_lawful_basis` as SQL, for picking a campaign's recipients in one query.

    To be used on a select joining Subscriber and Subscription for `topic`.
    """
    conditions = [
        Subscriber.status == SubscriberStatus.ACTIVE,
        Subscription.topic_id == topic.id,
        Subscription.confirmed_at.is_not(None),
    ]
    if topic.own_similar_products:
        basis_ok = or_(
            Subscription.basis == Basis.CONSENT,
            and_(
                Subscription.basis == Basis.EXISTING_CUSTOMER,
                Subscriber.purchased_at.is_not(None),
            ),
        )
    else:
        basis_ok = Subscription.basis == Basis.CONSENT
    return and_(*conditions, basis_ok)


# Imports (checklist D7): a basis per row, with its evidence, screened against
# suppression and lapsed bases; the operator declares the people are their own contacts.
# No wording of the source is judged: words cannot tell a bought list from a shop's own.

OWN_CONTACTS_DECLARATION = (
    "Every person in this file gave their consent to, or bought from, {org} itself: "
    "not a list bought, rented or borrowed from someone else, and no consent taken "
    "from a pre-ticked box."
)
IMPORT_EVIDENCE_COLUMNS = ("consent_where", "consent_how", "consent_system")


def require_own_contacts_declaration(source: str, declared: bool) -> None:
    """An import names where its people came from, and the operator declares, in terms,
    that they gave their consent to, or bought from, THIS business.

    Consent given to someone else is no consent to us, and a list seller's customers are
    not our customers; only the operator knows which it is, so the operator must say it
    (`--own-contacts`, the admin's required checkbox), and the declaration is stored with
    every imported row's evidence. The source text is not screened for words: "list
    purchased from MarketingCo" and "our shop's customers" are told apart by the
    declaration, not by a guess. Source: checklist D7 (ACM Daisycon); GDPR Art. 5(2) and
    7(1) (the controller demonstrates consent); seed "ap-advertising-consent-retention"
    ("Er is doorgaans ook toestemming nodig als u de adressen van een andere partij
    ontvangt"); ePrivacy Art. 13(2) (own customers only); CJEU Planet49 C-673/17 (no
    pre-ticked box). SPEC `flask subscribers import --own-contacts`.
    """
    text = (source or "").strip()
    if len(text) < 10:
        raise ComplianceError(
            "Describe where these people came from (at least 10 characters), e.g. "
            "'shop checkout 2024, newsletter box ticked'."
        )
    if not declared:
        raise ComplianceError(
            "Confirm that every person in the file gave their consent to, or bought from, "
            "this business itself (not a list bought, rented or borrowed from someone else)."
        )


def missing_consent_evidence(
    consented_at: datetime | None,
    consent_text: str | None,
    consent_text_ref: str | None,
    where: str | None,
    how: str | None,
    system: str | None,
) -> list[str]:
    """The evidence an imported consent lacks (empty: complete); such a row is not imported.

    To become active, an imported consent must show what was agreed (the wording, or a
    reference to where the exact wording is kept), when, where (form, URL, shop), how
    (e.g. "double opt-in on our old site") and from which earlier system. A row without
    it is skipped, not mailed: a mail asking such a person to confirm is itself an
    unsolicited commercial mail (see docs/IMPORTS.md). Source: GDPR Art. 7(1), 5(2);
    EDPB Guidelines 05/2020 §104-108 (demonstrate who, when, what information, how);
    seed "ap-advertising-consent-retention" ("moet kunnen aantonen dat u daadwerkelijk
    toestemming heeft gekregen"); seed "sending-newsletters-consent-checklist"
    ("Verstuur nooit nieuwsbrieven naar klanten die hun toestemming niet hebben
    gegeven"); checklist D7. SPEC import ("No consent row becomes active without stored
    evidence of what was agreed, when and where").
    """
    missing = [] if consented_at else ["consented_at"]
    if not (consent_text or consent_text_ref):
        missing.append("consent_text or consent_text_ref")
    for column, value in zip(IMPORT_EVIDENCE_COLUMNS, (where, how, system), strict=True):
        if not value:
            missing.append(column)
    return missing


def imported_consent_current(consented_at: datetime, now: datetime, interval_days: int) -> bool:
    """Is an imported consent recent enough to import, without asking again?

    Evidence older than the re-consent interval, or dated in the future, is not: such
    rows are skipped with the reason (an import never sends a mail asking again; see
    docs/IMPORTS.md). Source: SPEC rules 2 and 6; seed "ap-advertising-consent-retention"
    and "sending-newsletters-consent-checklist" (ask again every two years); checklist
    D6, D7.
    """
    return now - timedelta(days=interval_days) < consented_at <= now


def imported_purchase_current(purchased_at: datetime, now: datetime, basis_days: int) -> bool:
    """Is an imported purchase recent enough for the existing-customer exception?

    The same line as `customer_basis_lapsed`: a purchase older than `basis_days`
    (CUSTOMER_BASIS_DAYS, 730) no longer makes the person a customer whose expectations
    cover our mail, so a 2021 purchase imported in 2026 is skipped. Source: ePrivacy
    Directive Art. 13(2); Dutch Tw 11.7(3); Belgian KB 4-4-2003 art. 1; seed
    "direct-marketing-existing-customers" ("alléén mag als diegene daadwerkelijk klant
    van u is"); checklist E1; SPEC import ("a `purchased_at` within CUSTOMER_BASIS_DAYS").
    """
    return now - timedelta(days=basis_days) < purchased_at <= now


def customer_optout_offered_at_collection(statement: str | None) -> bool:
    """Does an imported customer's row say how the opt-out was offered when the address
    was collected?

    The exception applies only if the customer was clearly and distinctly given the
    chance to object, free of charge and easily, when the address was collected (and in
    every message after). The row's `optout_offered` column says how (e.g. "unticked
    box 'no offers by email' at checkout"); it is stored with the evidence. Source:
    ePrivacy Directive Art. 13(2); Dutch Tw 11.7(3)(b); Belgian KB 4-4-2003 art. 1, 2°;
    seed "direct-marketing-existing-customers" ("Tenzij diegene heeft aangegeven dit niet
    te willen"); checklist E1.
    """
    return bool((statement or "").strip())


def imported_evidence_already_lapsed(
    evidence_date: datetime | None, lapsed_date: datetime | None
) -> bool:
    """Is this imported evidence the same (or older) evidence whose basis already lapsed?

    When the existing-customer basis lapses, a marker keeps the keyed hash and the
    purchase date that lapsed (`models.LapsedBasis`); the same purchase may not start the
    basis again, only a newer one. Source: ePrivacy Directive Art. 13(2) (a current
    customer relationship); seed "ap-advertising-consent-retention" (after the period:
    "vernietigen of anonimiseren", not re-used); GDPR Art. 5(1)(e); SPEC rule 6.
    """
    if evidence_date is None:
        return True
    return lapsed_date is not None and evidence_date <= lapsed_date


# --- Rule 2: consent is explicit, free, specific, informed -----------------------------


def require_explicit_consent(box_ticked: bool, topics: list[str]) -> None:
    """Consent is an affirmative act (an unticked box the person ticked) for named topics.

    Source: GDPR Art. 4(11), 7; CJEU Planet49 C-673/17; seed
    "sending-newsletters-consent-checklist"; checklist D1. SPEC rule 2.
    """
    if not box_ticked:
        raise ComplianceError("Consent is required: tick the box to agree to receive the mail.")
    if not topics:
        raise ComplianceError("Choose at least one list to subscribe to.")


class ConsentTextChangedError(ComplianceError):
    """The page showed another consent text than the one shown now (`shown`)."""

    def __init__(self, shown) -> None:
        super().__init__(
            "The consent wording has changed since the page was loaded: the new wording "
            "is shown; please read it and tick the box again."
        )
        self.shown = shown


def require_shown_consent_text(claimed_id, shown) -> None:
    """Consent is recorded with the text the server showed, never one a client names.

    `shown` is the text the server displays on that page in its language
    (`subscriptions.displayed_consent_text`); `claimed_id` the one the submitted page
    carried. Anything else (an older version, another language's, a forged or missing
    value) raises ConsentTextChangedError, so the form is shown again with the current text
    instead of recording a wording the person did not see.
    Source: GDPR Art. 7(1) (demonstrate the consent), Art. 4(11) and recital 42
    ("informed": at least the controller's identity and purposes, in clear and plain
    language); EDPB Guidelines 05/2020 §§ 62-64, 104-108; checklist D3; SPEC rule 2.
    """
    if shown is None or str(claimed_id or "").strip() != str(shown.id):
        raise ConsentTextChangedError(shown)


def basis_since(basis: str, confirmed_at: datetime | None, purchased_at: datetime | None):
    """Since when the basis of one subscription holds: the date a footer, the Art. 15
    export and a preview give as "why you receive this".

    Consent: the date the person confirmed (or gave, on the preferences page) consent to
    that list; existing customer: the date of the last purchase. None: unknown.
    Source: SPEC "Every marketing message" (the reason line: basis and date of consent);
    GDPR Art. 7(1), 13(1)(c); ePrivacy 13(2); checklist B4.
    """
    if basis == Basis.EXISTING_CUSTOMER:
        return purchased_at
    return confirmed_at


def reason_for_receiving(basis: str, organization: str, day: str, topic: str) -> str:
    """ "Why you receive this", in the current language (call inside `force_locale`): the
    real basis of one subscription and since when it holds (`basis_since`, written out
    as `day`). The footer of every message (`messages.reason_line`) and the Art. 15
    export (`rights.why_you_receive`) both use it, so they say the same.

    Source: SPEC "Every marketing message" (the reason line); GDPR Art. 12(1), 13(1)(c)
    (in clear and plain language); ePrivacy 13(2) (existing customers: the right to
    object, free of charge); GBA decision 19/2021; checklist B4.
    """
    from flask_babel import gettext

    if basis == Basis.EXISTING_CUSTOMER:
        return gettext(
            "You receive this email because you bought from %(organization)s (purchase on "
            "%(day)s) and the list \u201c%(topic)s\u201d is about our own similar products. "
            "You can object at any time, free of charge.",
            organization=organization,
            day=day,
            topic=topic,
        )
    return gettext(
        "You receive this email because you subscribed to \u201c%(topic)s\u201d and "
        "confirmed your consent on %(day)s. You can withdraw it at any time.",
        topic=topic,
        day=day,
    )


# --- Rule 3: objection is absolute and immediate ---------------------------------------


def is_objected(address_hash: str, channel: str = Channel.EMAIL) -> bool:
    """Has this person objected to marketing on this channel (or opted out of email)?

    Source: GDPR Art. 21(2)-(3); GBA decision 19/2021; checklist G1. SPEC rule 3.
    """
    return bool(db.session.scalar(select(objection_exists(address_hash, channel))))


def objection_exists(address_hash, channel: str = Channel.EMAIL) -> Exists:
    """`is_objected` as an SQL EXISTS (`address_hash` a value or a bind parameter), so the
    sender's per-message re-check is one query. Source: as `is_objected`. SPEC rule 3.
    """
    return exists().where(Suppression.address_hash == address_hash, Suppression.channel == channel)


def objected_hashes(address_hashes: set[str], channel: str = Channel.EMAIL) -> set[str]:
    """`is_objected` for many people at once: the hashes among these that objected.

    The sender re-checks a chunk of recipients with it in one query instead of one per
    message. Source: GDPR Art. 21(2)-(3); GBA decision 19/2021; checklist G1. SPEC rule 3.
    """
    if not address_hashes:
        return set()
    return set(objection_reasons(address_hashes, channel))


def objection_reasons(address_hashes, channel: str = Channel.EMAIL) -> dict[str, str]:
    """The suppression screen with its reasons: {hash: reason} of these hashes that
    objected (or opted out, or lapsed) on `channel`. The importer says why a row is
    skipped with it. Source: as `is_objected`. SPEC rule 3.
    """
    if not address_hashes:
        return {}
    query = select(Suppression.address_hash, Suppression.reason).where(
        Suppression.channel == channel, Suppression.address_hash.in_(list(address_hashes))
    )
    return dict(db.session.execute(query).all())


def objected_channels(address_hash: str) -> set[str]:
    """Every channel this person's keyed hash has objected on (empty: none).

    Adding an objection adds only the channels missing from this; a test send refuses an
    address with any. Source: GDPR Art. 21(2)-(3); GBA decision 19/2021. SPEC rule 3.
    """
    query = select(Suppression.channel).where(Suppression.address_hash == address_hash)
    return set(db.session.scalars(query))


def any_objection(channel: str = Channel.EMAIL) -> bool:
    """Is anyone at all on the suppression list for `channel`? (Lets a bulk screen skip
    reading every recipient when the list is empty.) Source: as `is_objected`.
    """
    query = select(Suppression.id).where(Suppression.channel == channel).limit(1)
    return db.session.scalar(query) is not None


def objection_channels(requested) -> tuple[str, ...]:
    """The channels an objection covers: those named, or every channel when none are.

    One opt-out must stop all marketing by the business, not only email, unless the
    person limits it. Source: Belgian DPA (GBA) decision 19/2021; GDPR Art. 21(2)-(3);
    checklist G1, B7. SPEC rule 3.
    """
    if not requested:
        return Channel.ALL
    return tuple(c for c in Channel.ALL if c in set(requested))


def may_send_marketing(subscriber: Subscriber | None, subscription: Subscription | None) -> bool:
    """The last check before a marketing message is handed to SMTP.

    Called per message, in the middle of a send too, so that an opt-out or objection
    recorded a moment ago stops the next message. SPEC rule 3 (with rule 1).
    """
    if subscriber is None or subscription is None:
        return False  # erased (opted out) since the send started
    return has_lawful_basis(subscriber, subscription)


# --- Every link keeps its word: older links reach the person now, test links do nothing -


@dataclass(frozen=True)
class LinkPerson:
    """Whom an unsubscribe or preferences link acts on, now."""

    subscriber: Subscriber | None  # the person's subscriber now; None: nobody is subscribed
    address_hash: str | None  # the person's keyed hash, known when the link's id is retired
    older: bool  # the link names an earlier subscription of the person (a retired id)


def opt_out_link_reaches_current_subscription(public_id: str) -> LinkPerson:
    """The subscription an unsubscribe or preferences link acts on: the person's, as it is
    now, whichever message the link came from.

    A link names the subscriber it was mailed to by an opaque public id. Once that
    subscriber is deleted (opt-out, erasure, a lapsed basis) and the person comes back
    (a new signup, a new import) under a new id, the link of every older message must
    still stop them: an objection covers all direct marketing, from then on (GDPR Art.
    21(2)-(3)); the opt-out a message offers must work and say truly what it did (GBA
    decision 19/2021; GDPR Art. 5(1)(a)); SPEC rules 3 and 4. The deleted id is kept
    with the keyed hash of the address only (`RetiredPublicId`), and the person's current
    subscriber is the one whose consent events carry that hash. Nobody under that hash,
    or an id never retired: `subscriber` is None and the page says so.
    """
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.public_id == public_id))
    if subscriber is not None:
        return LinkPerson(subscriber, None, older=False)
    digest = db.session.scalar(
        select(RetiredPublicId.address_hash).where(RetiredPublicId.public_id == public_id)
    )
    if digest is None:
        return LinkPerson(None, None, older=False)
    current = db.session.scalar(
        select(Subscriber)
        .join(ConsentEvent, ConsentEvent.subscriber_id == Subscriber.id)
        .where(ConsentEvent.subject_hash == digest)
        .limit(1)
    )
    return LinkPerson(current, digest, older=True)


def refusal_of_test_recipient(address_hash: str, is_admin: bool) -> str | None:
    """Why an admin's test message may not go to this address (None: it may).

    A test is the campaign's message: it goes to an admin of this installation, or to an
    address with no entry in the suppression list and objection register, on any channel.
    An objection is absolute (GDPR Art. 21(2)-(3)) and covers every channel unless the
    person limited it (GBA decision 19/2021); no marketing mail without a lawful basis
    (ePrivacy Art. 13(1); SPEC rules 1 and 3). The keyed hash, never the address, is
    looked up.
    """
    if is_admin:
        return None
    found = objected_channels(address_hash)
    if not found:
        return None
    channels = ", ".join([c for c in Channel.ALL if c in found] + sorted(found - set(Channel.ALL)))
    return (
        f"Test address: this address has objected to marketing or is suppressed ({channels}), "
        "so no message of a campaign goes to it, not even a test. Send the test to an "
        "admin's address, or to one that has not objected."
    )


_CHECKING_TEST_MESSAGE: ContextVar[bool] = ContextVar("checking_test_message", default=False)


def check_test_message(message) -> list[str]:
    """Every problem that forbids sending this admin's test message (empty: fine).

    A test goes through the campaign's own rule-4 check (both opt-outs, the sender, a
    reason line in the message's language, nothing hidden), with its own reason line in
    place of the consent or purchase one (`footer_reason_phrases` reads it while this
    check runs). And it must say what it is and change nothing: the test prefix in the
    subject and the test banner in both parts, no claim that the reader consented or
    bought (nobody consented to a test: an untrue claim of consent is no evidence, GDPR
    Art. 5(1)(a), 7(1)), and unsubscribe and preferences links that act on nobody (test
    tokens, `tokens.TEST`), so that pressing them unsubscribes no real subscriber and
    records nothing. Sources: SPEC rule 4 and "Every marketing message"; GBA decision
    19/2021; GDPR Art. 5(1)(a), 7(1), 21(3). Takes raw bytes or an `email` message.
    """
    from . import campaigns, messages

    if not isinstance(message, bytes | bytearray):
        message = message.as_bytes(policy=message.policy.clone(max_line_length=None))
    raw = bytes(message)
    checking = _CHECKING_TEST_MESSAGE.set(True)
    try:
        problems = check_marketing_message(raw)
    finally:
        _CHECKING_TEST_MESSAGE.reset(checking)
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    language = i18n.normalize_locale(parsed.get("Content-Language"))
    if language is None:
        return problems  # reported by the rule-4 check
    wording = campaigns.wording_of_test_send(language)
    subject = str(email.header.make_header(email.header.decode_header(parsed["Subject"] or "")))
    if not _unfold(subject).startswith(wording.prefix):
        problems.append(f"the subject of a test message must start with {wording.prefix}")
    text, page = _alternative_parts(parsed, [])
    claims = messages.reason_phrases(language)
    for label, part in (("text", text), ("HTML", page)):
        shown = html.unescape(part or "")
        if wording.banner not in shown:
            problems.append(f"the {label} part of a test message lacks the test banner")
        if any(claim in shown for claim in claims):
            problems.append(
                f"the {label} part of a test message claims that the reader consented or "
                "bought: a test makes no such claim (GDPR Art. 5(1)(a), 7(1))"
            )
    links = {
        "unsubscribe": _one_unsubscribe_link(parsed, []),
        "preferences": _angle_url(parsed.get("List-Help") or ""),
    }
    for link, url in links.items():
        if not _inert_test_link(url, link, language):
            problems.append(
                f"the {link} link of a test message must be a test link that changes "
                "nothing; this one could act on a real subscription"
            )
    return problems


def _inert_test_link(url: str, link: str, language: str) -> bool:

    try:
        payload = tokens.verify(tokens.TEST, url.rsplit("/", 1)[-1])
    except tokens.InvalidTokenError:
        return False
    return f"/{link}/" in url and payload == [link, language]


def reason_phrases_of_test_message(language: str) -> tuple[str, ...]:
    """The fixed words of a test message's reason line in `language` (its longest run of
    words between the filled-in values), from the translation catalogue."""
    from . import campaigns

    line = campaigns.wording_of_test_send(language, organization="\0").reason
    return (max(line.split("\0"), key=len).strip(),)


# --- Double opt-in: nothing but the confirmation mail, and not too many of them --------


def confirmation_mail_allowed(address_hash: str, now: datetime, per_day: int) -> bool:
    """At most `per_day` confirmation mails to one address in 24 hours (list bombing).

    Source: checklist H1 (listmonk #308, #1559); SPEC NEWSLETTER_CONFIRM_MAILS_PER_ADDRESS.
    """
    since = now - timedelta(hours=24)
    count = db.session.scalar(
        select(func.count())
        .select_from(ConfirmationSend)
        .where(ConfirmationSend.address_hash == address_hash, ConfirmationSend.sent_at > since)
    )
    return count < per_day


# --- Rule 4: every marketing message offers both opt-outs (filled by messages.py) ------


REQUIRED_ONCE = ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Help")
ONE_CLICK = "List-Unsubscribe=One-Click"
_FIELD_START = re.compile(r"\r?\n(?![ \t])")  # a line break not followed by a fold
_FOLD = re.compile(r"\r?\n[ \t]")
_MESSAGE_ID = re.compile(r"<[^<>@\s]+@[^<>@\s]+>")
_LIST_ID = re.compile(r"<[^<>\s]+>\s*$")
_ANGLED = re.compile(r"<([^<>\s]+)>")
# What to do about a problem that only a changed message or a changed layout can cause.
_CHANGED = "the app writes this itself: send the message as the app built it, unchanged"
_FOOTER = (
    "the app adds the system footer itself after the layout's content; send the message "
    "as the app built it, unchanged, and keep any footer of your own out of "
    "templates/email/layout.html and layout.txt"
)


def opt_out_link_allowed(url: str) -> bool:
    """May this opt-out link (List-Unsubscribe, List-Help, the footer's links) be used?

    It must be https: RFC 8058 §3.1 ("The List-Unsubscribe header field MUST contain one
    HTTPS URI"), and a one-click POST over plain http would carry the token in clear.
    The one exception is a loopback BASE_URL (127.0.0.0/8, localhost, [::1]) with links
    on loopback too: a local trial or a local mail catcher, where the mail never leaves
    the machine (SPEC `NEWSLETTER_BASE_URL`; the app refuses to start with a non-loopback
    http BASE_URL and an SMTP server). Sources: RFC 8058 §3.1; RFC 2369; SPEC rule 4.
    """

    if url.startswith("https://"):
        return True
    base_url = _config("BASE_URL")
    return (
        url.startswith("http://") and links.is_loopback_url(base_url) and links.is_loopback_url(url)
    )


def _https_advice() -> str:
    return (
        "set NEWSLETTER_BASE_URL to the public https address of this site "
        f"(now {_config('BASE_URL')}); plain http is only for a loopback address "
        "such as http://127.0.0.1:5000"
    )


def footer_reason_phrases(language: str) -> tuple[str, ...]:
    """The fixed words of the footer's "why you get this" line in `language`, one per
    basis (consent, existing customer), from the same translation catalogues as the
    footer itself: the check reads the footer in the recipient's language, never an
    English sentence (a Dutch or French footer is the law's wish, not a fault).
    """
    from . import messages

    if _CHECKING_TEST_MESSAGE.get():  # check_test_message: a test's own reason line
        return reason_phrases_of_test_message(language)
    return messages.reason_phrases(language)


def check_marketing_message(message) -> list[str]:
    """Every problem that forbids handing this marketing message to SMTP (empty: fine).

    Both opt-outs in the medium used, in headers and in both body parts: the
    unsubscribe-from-all link and the preferences link, plus the sender's identity and
    why the person gets the message, in the message's language (Content-Language), and
    in HTML none of it hidden. Sources: SPEC rule 4 and "Every marketing message";
    Belgian DPA decision 19/2021; ePrivacy Art. 13(4); RFC 2369, RFC 8058, RFC 5322;
    checklist A1-A4, A8, A9, B6, B7, F. Takes raw bytes or an `email` message.
    Each problem says what to do, then the rule it breaks.
    """
    if isinstance(message, bytes | bytearray):
        raw = bytes(message)
    else:  # serialise as parsed: refolding long header lines would alter the URLs
        raw = message.as_bytes(policy=message.policy.clone(max_line_length=None))
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    missing: list[str] = []
    text, page = _alternative_parts(parsed, missing)
    problems = _rule_4_problems(parsed, raw.split(b"\n"), text, page, missing)
    if page is not None:
        problems += footer_visibility_problems(page)
        problems += author_content_problems(page, text, _message_links(parsed))
    return problems


def check_marketing_parts(head: str, text: str, page: str) -> list[str]:
    """`check_marketing_message` for a message the sender built itself, without parsing it.

    The same rules on the same text: the header block as written, and the text and HTML
    bodies as they are before base64, which is what a mail client decodes. What this does
    not see is the MIME skeleton around the two bodies (boundaries, part headers, base64
    lines of 76 octets) and the layout's styles (is the footer visible?); both are the
    same for every message of a prepared campaign (the per-recipient values are escaped
    text), and the sender checks one whole message of each prepared campaign with
    `check_marketing_message` before any message of it goes out. SPEC rule 4, as above.
    """
    return _rule_4_problems(_HeaderBlock(head), head.encode("utf-8").split(b"\n"), text, page, [])


class PreparedMessagesCheck:
    """SPEC rule 4 on every message of one prepared campaign, as the sender builds them.

    Each such message is its campaign's three skeletons (the header block, the text and
    the HTML page: `messages.PreparedCampaign`) filled with one recipient's values: the
    links, the reason line, the name of the greeting, the To, Date and Message-ID lines.
    `check` runs the whole rule-4 check (`check_marketing_parts`, and for the first
    message `check_marketing_message`, which parses it whole) until a message passed it;
    after that, a message passes at once when it is exactly the skeletons filled with
    values of the kinds that cannot change the outcome (`_same_as_checked`): links to the
    same pages with another token, a reason line some earlier message passed the whole
    check with, a name escaped for its part and placed before the footer, header values
    that cannot start another header. Anything else (a new reason line, an unknown value,
    a text that is not its skeleton filled) gets the whole check, which says what is
    wrong in the same words. The skeletons are the same for every message, so the whole
    check would find the same on each: this is that check, made once per skeleton and
    once per reason line (about 12 us a message instead of about 70; docs/SENDING.md).
    """

    def __init__(self, skeletons: tuple):
        self.skeletons = skeletons  # head, text, page: each with `fill` and `slots_after`
        self.links: dict[str, re.Pattern] | None = None  # once a whole message passed
        self.reasons: set[str] = set()

    def check(self, built) -> list[str]:
        """The problems of one `messages.Composed` (empty: it may go out)."""
        if self.links is not None and self._same_as_checked(built):
            return []
        problems = check_marketing_parts(built.head, built.text, built.page)
        if not problems and self.links is None:
            problems = check_marketing_message(built.raw)
        if problems or not self._filled(built):
            return problems  # passed or not, nothing is learnt from it
        if self.links is None:
            if not self._footers_last():
                return []  # a name in or after the footer: every message checked whole
            self.links = {k: _link_pattern(built.values[1][k]) for k in _LINK_SLOTS}
        if len(self.reasons) < MAX_CHECKED_REASONS:  # a few hundred in a campaign
            self.reasons.add(built.values[1]["reason"])
        return []

    def _filled(self, built) -> bool:
        """Are the message's head, text and page its skeletons filled with its values?"""
        texts = (built.head, built.text, built.page)
        return all(
            skeleton.fill(values) == text
            for skeleton, values, text in zip(self.skeletons, built.values, texts, strict=True)
        )

    def _footers_last(self) -> bool:
        """In the text and the page only the footer's own slots follow its start: no other
        value (a name) can be in or after the footer that the whole check read."""
        from . import messages

        _, text, page = self.skeletons
        starts = ((text, messages.TEXT_FOOTER_START), (page, "<div " + messages.FOOTER_MARK))
        for skeleton, start in starts:
            after = skeleton.slots_after(start)
            if after is None or not after <= set(_FOOTER_SLOTS):
                return False
        return True

    def _same_as_checked(self, built) -> bool:
        head_values, text_values, page_values = built.values
        for key, value in text_values.items():
            if key in _LINK_SLOTS:
                if not self.links[key].fullmatch(value):
                    return False
            elif key == "reason":
                if value not in self.reasons:
                    return False
            elif not (_is_name(key) and _ONE_LINE.fullmatch(value)):
                return False
        for key, value in page_values.items():
            if key in _FOOTER_SLOTS:
                if value != html.escape(text_values[key]):
                    return False
            elif not (_is_name(key) and not _HTML_SPECIAL.search(value)):
                return False
        for key, value in head_values.items():
            pattern = _HEAD_VALUES.get(key)
            if key in _LINK_SLOTS:
                if value != text_values[key]:
                    return False
            elif pattern is None or not pattern.fullmatch(value):
                return False
        if not self._filled(built):
            return False
        return all(len(line) <= 998 for line in built.head.encode("utf-8").split(b"\n"))


MAX_CHECKED_REASONS = 5000  # past it, a message with another one gets the whole check
_LINK_SLOTS = ("unsubscribe_url", "preferences_url")
_FOOTER_SLOTS = (*_LINK_SLOTS, "reason")
_TOKEN = r"[A-Za-z0-9_.-]+"  # itsdangerous' URL-safe tokens (base64url and dots)
_ONE_LINE = re.compile(r"[^\r\n]*")
_HTML_SPECIAL = re.compile(r"[<>\"'\r\n]")
_FOLDED_LINES = re.compile(r"(?:[^\r\n]|\r\n[ \t])*")  # line breaks only as folds
_HEAD_VALUES = {  # what a per-message header value may be: it cannot start a header
    "to": _FOLDED_LINES,
    "subject": _FOLDED_LINES,
    "date": _ONE_LINE,
    "message_id": _MESSAGE_ID,
    "token": re.compile(_TOKEN),
}


def _is_name(key) -> bool:
    return isinstance(key, tuple) and key[0] == "name"


def _link_pattern(url: str) -> re.Pattern:
    """A link to the same page as `url`, with another token in its place."""
    path, _, last = url.rpartition("/")
    _, query, rest = last.partition("?")
    return re.compile(re.escape(path + "/") + _TOKEN + re.escape(query + rest))


def _rule_4_problems(headers, lines, text: str | None, page: str | None, missing) -> list[str]:
    problems = _header_problems(headers)
    if any(len(line) > 998 for line in lines):
        problems.append(f"a line is longer than 998 octets: {_CHANGED} (RFC 5322 2.1.1)")
    unsubscribe = _one_unsubscribe_link(headers, problems)
    preferences = _angle_url(headers.get("List-Help", ""))
    problems += missing
    identity = [_config(k) for k in _IDENTITY]
    problems += _identity_problems(identity)
    identity = [html.unescape(value) for value in identity]
    language = _language(headers, problems)
    phrases = footer_reason_phrases(language) if language else ()
    for label, part in (("text", text), ("HTML", page)):
        if part is None:
            continue
        if unsubscribe and unsubscribe not in part:
            problems.append(f"the {label} part lacks the unsubscribe-from-all link: {_FOOTER}")
        if preferences and preferences not in part:
            problems.append(f"the {label} part lacks the preferences link: {_FOOTER}")
        # Unescaped only when not found as it is (unescaping a whole page is the dear part).
        if any(n and n not in part and n not in html.unescape(part) for n in identity):
            problems.append(
                f"the {label} part lacks the sender's name and postal address: {_FOOTER} "
                "(ePrivacy Art. 13(4))"
            )
        if language and not _says_why(part, phrases, escaped=label == "HTML"):
            problems.append(
                f"the {label} part does not say, in the recipient's language ({language}), "
                f"why the person receives it: {_FOOTER} (SPEC rule 4, GBA 19/2021)"
            )
    problems += system_footer_problems(text, page, unsubscribe, preferences, language)
    if page is not None and unsubscribe and f'href="{unsubscribe}"' not in page:
        problems.append(f"the unsubscribe link is not a clickable link in the HTML part: {_FOOTER}")
    return problems


def _says_why(part: str, phrases: tuple[str, ...], escaped: bool) -> bool:
    if any(p in part for p in phrases):
        return True
    if escaped:  # the footer's values are HTML-escaped (an apostrophe is &#x27;)
        if any(html.escape(p) in part for p in phrases):
            return True
        return any(p in html.unescape(part) for p in phrases)
    return False


_IDENTITY = ("ORGANIZATION_NAME", "ORGANIZATION_ADDRESS")


def _identity_problems(values: list[str]) -> list[str]:
    """The settings of `_IDENTITY` that are empty (`values`: theirs, in that order)."""
    missing = [k for k, value in zip(_IDENTITY, values, strict=True) if not value.strip()]
    if not missing:
        return []
    names = " and ".join(f"NEWSLETTER_{k}" for k in missing)
    return [
        f"set {names}: every marketing mail must say who sends it and give a postal "
        "address (ePrivacy Art. 13(4); Dutch Tw 15e; Belgian WER XII.13)"
    ]


def _language(headers, problems: list[str]) -> str | None:
    """The message's language (Content-Language, RFC 3282), which the system sets to the
    recipient's; None, with a problem, when it is missing or not a supported one."""

    declared = (headers.get("Content-Language") or "").strip()
    language = i18n.normalize_locale(declared)
    if language is None:
        problems.append(
            f"the message does not name a supported language in Content-Language "
            f"({declared or 'none'}): {_CHANGED} (RFC 3282)"
        )
    return language


class _HeaderBlock:
    """The lookups rule 4 makes on an `email` message (compat32), on a header block
    split by hand: parsing a whole message with `email` costs about ten times more."""

    def __init__(self, head: str):
        self.fields: dict[str, list[str]] = {}
        for line in _FIELD_START.split(head.rstrip("\r\n")):
            name, colon, value = line.partition(":")
            if colon:
                self.fields.setdefault(name.strip().lower(), []).append(value.lstrip(" \t"))

    def get_all(self, name: str) -> list[str] | None:
        return self.fields.get(name.lower())

    def get(self, name: str, default=None):
        return self.fields.get(name.lower(), (default,))[0]

    def get_content_type(self) -> str:
        kind = (self.get("Content-Type") or "").split(";")[0].strip().lower()
        return kind if kind.count("/") == 1 else "text/plain"


def _config(key: str) -> str:
    from flask import current_app

    return str(current_app.config[key])


def _header_problems(parsed) -> list[str]:
    problems = []
    for name in (*REQUIRED_ONCE, "List-Unsubscribe", "List-Unsubscribe-Post"):
        count = len(parsed.get_all(name) or [])
        if count != 1:
            problems.append(
                f"the {name} header is there {count} times, it must be there exactly once: "
                f"{_CHANGED} (RFC 5322 3.6, RFC 2369)"
            )
    if not _MESSAGE_ID.fullmatch((parsed.get("Message-ID") or "").strip()):
        problems.append(f"the Message-ID is not of the form <id@domain>: {_CHANGED} (RFC 5322)")
    if (parsed.get("List-Unsubscribe-Post") or "").strip() != ONE_CLICK:
        problems.append(
            f"the List-Unsubscribe-Post header must be exactly '{ONE_CLICK}': {_CHANGED} (RFC 8058)"
        )
    if not _LIST_ID.search(_unfold(parsed.get("List-Id") or "")):
        problems.append(f"the List-Id header has no <list-id>: {_CHANGED} (RFC 2919)")
    help_url = _angle_url(parsed.get("List-Help") or "")
    if not help_url:
        problems.append(
            f"the List-Help header must hold the preferences page's address: {_CHANGED} (RFC 2369)"
        )
    elif not opt_out_link_allowed(help_url):
        problems.append(
            f"the preferences link is not https: {_https_advice()} (RFC 2369, RFC 8058 §3.1)"
        )
    if parsed.get_content_type() != "multipart/alternative":
        problems.append(
            f"the message must have a text and an HTML part (multipart/alternative): {_CHANGED}"
        )
    return problems


def _unfold(value: str) -> str:
    return _FOLD.sub(" ", str(value))


def _angle_url(value) -> str:
    found = _ANGLED.findall(_unfold(value or ""))
    return found[0] if len(found) == 1 else ""


def _one_unsubscribe_link(parsed, problems: list[str]) -> str:
    """The one-click unsubscribe link of List-Unsubscribe (with at most mailto beside)."""
    uris = _ANGLED.findall(_unfold(parsed.get("List-Unsubscribe") or ""))
    web = [u for u in uris if u.startswith(("https://", "http://"))]
    others = [u for u in uris if not u.startswith(("https://", "http://", "mailto:"))]
    if len(web) != 1 or others:
        problems.append(
            "the List-Unsubscribe header must hold exactly one web link (and a mailto): "
            f"{_CHANGED} (RFC 8058 §3.1)"
        )
        return ""
    if not opt_out_link_allowed(web[0]):
        problems.append(
            f"the unsubscribe link is not https: {_https_advice()} (RFC 8058 §3.1: "
            "List-Unsubscribe must hold one https URI)"
        )
        return ""
    return web[0]


def _alternative_parts(parsed, problems: list[str]) -> tuple[str | None, str | None]:
    found: dict[str, str] = {}
    for part in parsed.walk():
        kind = part.get_content_type()
        if kind in ("text/plain", "text/html") and kind not in found:
            payload = part.get_payload(decode=True) or b""
            found[kind] = payload.decode(part.get_content_charset() or "utf-8", "replace")
    for kind, label in (("text/plain", "text"), ("text/html", "HTML")):
        if kind not in found:
            problems.append(f"the message has no {label} part: {_CHANGED}")
    return found.get("text/plain"), found.get("text/html")


# --- Rule 4: the footer is the system's -------------------------------------------------
#
# messages.py places the footer itself, after the layout's content, as the last thing in
# <body>, in a fixed block with its own inline styles. The check below requires that
# block verbatim in both parts, and, on the HTML as built, that nothing the layout wrote
# can hide or cover it: it is outside every other element, outside comments, <head> and
# raw-text elements, no stylesheet is left that could select it, <html>/<body> carry no
# style that reaches it, and nothing before it is positioned over it.

_AFTER_HTML_FOOTER = re.compile(r"\s*(?:</body\s*>\s*)?(?:</html\s*>\s*)?", re.IGNORECASE)
# The styles <html> and <body> may have: none of them can make the footer, which sets its
# own colours, size and display, unreadable or invisible.
_PAGE_STYLE_ALLOWED = re.compile(
    r"(?:margin|padding)(?:-(?:top|right|bottom|left))?"
    r"|background(?:-color|-image|-repeat|-position|-size)?|font-family"
    r"|(?:-webkit-|-ms-)?text-size-adjust|(?:min-)?width|direction|word-wrap|overflow-wrap",
    re.IGNORECASE,
)
# Ways an earlier element is painted over a later one (or moved onto it).
_COVERS = re.compile(
    r"(?:^|;)\s*(?:position\s*:\s*(?:absolute|fixed|relative|sticky)|z-index\s*:"
    r"|transform\s*:(?!\s*none)|margin(?:-bottom)?\s*:[^;]*-\d)",
    re.IGNORECASE,
)
# Elements whose content a mail client does not show as a page (or that swallow the rest
# of the page): a layout has no use for them, and the footer must not follow one.
_NOT_IN_A_LAYOUT = {
    "style", "link", "script", "template", "noscript", "noembed", "noframes", "plaintext",
    "xmp", "iframe", "textarea", "object", "embed", "frameset", "frame", "select", "dialog",
}  # fmt: skip
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "wbr"}
_LAYOUT = "templates/email/layout.html"
_CONDITIONAL = re.compile(r"<!--\[if[^\]]*\]>(.*?)<!\[endif\]-->", re.IGNORECASE | re.DOTALL)


def system_footer_problems(
    text: str | None, page: str | None, unsubscribe: str, preferences: str, language: str | None
) -> list[str]:
    """Each part ends with the system footer, verbatim: the fixed block messages.py writes
    (its words in the message's language, its own inline styles), with this message's
    unsubscribe and preferences links and a reason line. A footer that was changed,
    restyled or moved, or that something follows, is not the system's.
    Sources: SPEC "Every marketing message" (a footer injected by the system, whatever the
    template, in both parts); GBA decision 19/2021; ePrivacy Art. 13(4). SPEC rule 4.
    """
    from . import messages

    if not language:
        return []
    html_pattern, text_pattern = messages.footer_patterns(language)
    problems = []
    for label, part, start, pattern in (
        ("text", text, messages.TEXT_FOOTER_START, text_pattern),
        ("HTML", page, "<div " + messages.FOOTER_MARK, html_pattern),
    ):
        if part is None:
            continue
        at = part.rfind(start)
        found = pattern.match(part, at) if at >= 0 else None
        if found is None:
            problems.append(
                f"the {label} part does not carry the system footer as the app writes it "
                f"(in {language}, with its own styles): {_FOOTER}"
            )
            continue
        rest = part[found.end() :]
        follows = rest.strip() if label == "text" else not _AFTER_HTML_FOOTER.fullmatch(rest)
        if follows:
            problems.append(
                f"something follows the system footer in the {label} part: the footer must be "
                f"the last thing in the message: {_FOOTER}"
            )
        groups = found.groupdict()
        if label == "HTML":
            groups = {name: html.unescape(v) for name, v in groups.items()}
        value = groups.__getitem__
        if not any(p in value("reason") for p in footer_reason_phrases(language)):
            problems.append(
                f"the system footer of the {label} part has no reason line in {language} "
                f"(why the person receives it): {_FOOTER} (SPEC rule 4, GBA 19/2021)"
            )
        if (unsubscribe and value("unsubscribe_url") != unsubscribe) or (
            preferences and value("preferences_url") != preferences
        ):
            problems.append(
                f"the system footer of the {label} part does not link to this message's own "
                f"unsubscribe and preferences pages: {_FOOTER}"
            )
    return problems


def footer_visibility_problems(page: str) -> list[str]:
    """Nothing in the HTML part can hide, cover or restyle the system footer.

    The footer must sit directly in <body> (not inside an element the layout left open,
    an HTML comment, <head>, <title>, <style> or another element a client does not show);
    no stylesheet may remain (its selectors could reach the footer: the app inlines the
    layout's CSS before it adds the footer); <html> and <body> may be styled only with
    margin, padding, background, font-family and width (no display, visibility, opacity,
    colour, font size or height that the footer would inherit or be clipped by); no
    element before it may be positioned, transformed or pulled down over it.
    Sources: GBA decision 19/2021 ("zorg dat het voldoende duidelijk is voor de
    betrokkenen hoe zij zich kunnen uitschrijven"; an opt-out that cannot be seen is none);
    GDPR Art. 12(2) (facilitate the exercise of rights); ePrivacy Art. 13(4); SPEC rule 4.
    """
    from . import messages

    at = page.rfind("<div " + messages.FOOTER_MARK)
    if at < 0:
        return []  # system_footer_problems says it is missing
    reader = _BeforeFooter()
    reader.feed(page[:at])
    problems = sorted(reader.problems)
    leftover = reader.rawdata
    if reader.cdata_elem:
        problems.append(
            f"the system footer ends up inside <{reader.cdata_elem}>, which is never shown: "
            f"close it in {_LAYOUT} (SPEC rule 4)"
        )
    elif "<!--" in leftover or "<![" in leftover:
        problems.append(
            "the system footer ends up inside an HTML comment, which is never shown: close the "
            f"comment (-->) in {_LAYOUT} (SPEC rule 4)"
        )
    elif leftover.strip():
        problems.append(
            f"the system footer ends up inside an unfinished tag: correct {_LAYOUT} (SPEC rule 4)"
        )
    around = [(tag, attrs) for tag, attrs in reader.stack if tag not in ("html", "body")]
    # Outlook reads the insides of conditional comments (<!--[if mso]>…<![endif]-->) as
    # HTML: an element opened there and left open would wrap the footer in Outlook only.
    outlook = _BeforeFooter()
    outlook.feed(_CONDITIONAL.sub(r"\1", page[:at]))
    in_outlook = [(t, a) for t, a in outlook.stack if t not in ("html", "body")]
    if in_outlook and not around:
        tag, attrs = in_outlook[-1]
        problems.append(
            f"in Outlook the system footer ends up inside <{tag}>, opened in a conditional "
            f"comment (<!--[if mso]>) of {_LAYOUT} and never closed: close it in the same "
            "kind of comment before the end of the layout (SPEC rule 4)"
        )
        problems += sorted(outlook.problems - reader.problems)
    if around:
        tag, attrs = around[-1]
        shown = f"<{tag}{' style=' + repr(attrs['style']) if attrs.get('style') else ''}>"
        problems.append(
            f"the system footer ends up inside {shown}, which {_LAYOUT} leaves open: the footer "
            "must be the last thing in <body>, outside every other element; close every "
            "element in the layout (SPEC rule 4)"
        )
    return problems


class _BeforeFooter(HTMLParser):
    """Reads the HTML before the footer: the elements still open where it starts, and
    whatever could hide or cover it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict]] = []
        self.problems: set[str] = set()

    def handle_starttag(self, tag, attrs):
        values = {name: value or "" for name, value in attrs}
        style = values.get("style", "")
        if tag in _NOT_IN_A_LAYOUT:
            what = "a stylesheet" if tag in ("style", "link") else "an element mail clients hide"
            self.problems.add(
                f"the HTML part holds <{tag}> ({what}), which could hide or restyle the "
                f"system footer: remove it from {_LAYOUT}; put styles inline or in the "
                "layout's <style>, which the app inlines before it adds the footer (SPEC rule 4)"
            )
        if tag in ("html", "body"):
            self._page_element(tag, values, style)
        elif _COVERS.search(style):
            self.problems.add(
                f"an element of the layout is positioned, transformed or given a negative "
                f"margin ({style.strip()[:80]}) and could be drawn over the system footer: "
                f"remove position, z-index, transform and negative margins from {_LAYOUT} "
                "(SPEC rule 4)"
            )
        if tag not in _VOID:
            self.stack.append((tag, values))

    def _page_element(self, tag: str, values: dict, style: str) -> None:
        for attribute in ("hidden", "aria-hidden", "inert"):
            if attribute in values:
                self.problems.add(
                    f"<{tag}> has the {attribute} attribute, which hides the whole message, "
                    f"footer included: remove it from {_LAYOUT} (SPEC rule 4)"
                )
        for declaration in style.split(";"):
            name, colon, value = declaration.partition(":")
            name = name.strip()
            if colon and name and not _PAGE_STYLE_ALLOWED.fullmatch(name):
                self.problems.add(
                    f"the layout styles <{tag}> with {name}:{value.strip()}, which the system "
                    f"footer inside it would inherit or be hidden by: in {_LAYOUT}, give <html> "
                    "and <body> only margin, padding, background, font-family and width, and "
                    "put text colour and size on an element inside (as .wrap does) (SPEC rule 4)"
                )

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                return


# --- Rule 4 (the author's content): one way to opt out, the system's; no tracking -----
#
# What the author (and the layout) put in a message may not undo the footer: no second,
# harder way to opt out, no link that looks like the unsubscribe link but goes elsewhere,
# no tracking image and no redirecting link (the privacy notice promises "no tracking
# pixels, no rewritten links"). Author images that track are removed when the body is
# rendered (messages.render_body); everything else here refuses the send.

# Words that speak of opting out, in English, Dutch and French.
_OPT_OUT_WORDS = re.compile(
    r"unsubscri|opt(?:ing)?[- ]?out|stop (?:receiving|getting)|be removed from|remove you from"
    r"|no longer (?:wish|want) to receive"
    r"|afmeld|af (?:te )?melden|meld (?:je|u|uzelf) (?:\w+ ){0,3}af\b"
    r"|uitschrijv|uit (?:te )?schrijven"
    r"|schrijf (?:je|u) (?:\w+ ){0,3}uit\b|opzeggen|geen (?:\w+ ){0,4}meer (?:ontvangen|krijgen)"
    r"|d[ée]sinscri|d[ée]sabonn|ne (?:plus|pas) recevoir|ne souhaitez plus recevoir"
    r"|vous retirer de",
    re.IGNORECASE,
)
# Other channels or places than the system's online opt-out.
_OTHER_CHANNEL = re.compile(
    r"\bcall(?:ing)?\b|\bphon(?:e|ing)\b|telephone|customer (?:service|care|support)|help ?desk"
    r"|support team|write to|by (?:post|letter|mail|phone)|a letter|(?:our|the|a) (?:shop|store)\b"
    r"|\breply\b|e-?mail us|mail us|contact (?:us|our)|text (?:us|stop)|\bsms\b"
    r"|\bbel(?:len)?\b|\bbelt\b|telefo|klantendienst|klantenservice|schrijf (?:ons|naar)"
    r"|per (?:post|brief)"
    r"|een brief|(?:de|onze|een) winkel|verkooppunt|filiaal|beantwoord|antwoord op deze|mail ons"
    r"|stuur ons|contact op|\bappel(?:ez|er|ant)?\b|t[ée]l[ée]phon|service client|par courrier"
    r"|par (?:la )?poste|par lettre|une lettre|[ée]crivez|en magasin|point de vente|r[ée]pondez"
    r"|r[ée]pondant|contactez|envoyez-nous|par sms",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_GBA = "GBA decision 19/2021; GDPR Art. 12(2); SPEC rule 4"

# Link shorteners, redirectors and mailing tools' click trackers: the reader is sent
# through someone else's server, which records the click.
_REDIRECT_HOSTS = {
    "bit.ly", "bitly.com", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "buff.ly", "is.gd",
    "v.gd", "rebrand.ly", "lnkd.in", "cutt.ly", "shorturl.at", "rb.gy", "t.ly", "tiny.cc",
    "bl.ink", "s.id", "clck.ru", "trib.al", "fb.me", "amzn.to", "mailchi.mp", "eepurl.com",
    "list-manage.com", "sendgrid.net", "mandrillapp.com", "mjt.lu", "hubspotlinks.com",
    "safelinks.protection.outlook.com", "l.facebook.com", "lm.facebook.com", "out.reddit.com",
    "href.li", "urldefense.com", "urldefense.proofpoint.com", "email.mg.mailgun.org",
}  # fmt: skip
_REDIRECT_LABELS = {"click", "clicks", "track", "tracking", "trk", "redirect", "redir"}
_REDIRECT_PARAMS = {
    "url", "u", "redirect", "redirect_url", "redirect_uri", "redirecturl", "redir", "goto",
    "dest", "destination", "target", "link", "out", "continue", "return_url", "returnurl",
    "forward",
}  # fmt: skip
_REDIRECT_PATH = re.compile(r"/(?:track|tracking|trk|clicks?|redirect|redir)(?:[/?.;]|$)", re.I)
# Hosts that serve open-tracking images (analytics, advertising, mailing tools).
_TRACKER_HOSTS = {
    "google-analytics.com", "doubleclick.net", "googletagmanager.com", "facebook.com",
    "facebook.net", "mailtrack.io", "list-manage.com", "mandrillapp.com", "sendgrid.net",
    "hubspot.com", "hubspotemail.net", "mixpanel.com", "segment.io", "pixel.wp.com",
    "stats.wp.com", "bat.bing.com", "mailgun.org", "mjt.lu", "mailjet.com", "sendinblue.com",
    "brevo.com", "klaviyo.com", "exacttarget.com", "pardot.com", "omtrdc.net", "hotjar.com",
}  # fmt: skip
_TRACKER_PATH = re.compile(
    r"/(?:open|opens|pixel|track|tracking|beacon|trk|1x1|o)(?:[/?.]|$)|[?&](?:open|pixel)=", re.I
)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:px)?\s*$", re.IGNORECASE)
_STYLE_SIZE = re.compile(r"(?:^|;)\s*(?:max-)?(width|height)\s*:\s*(\d+(?:\.\d+)?)px", re.I)


def _host_in(host: str, hosts) -> bool:
    host = (host or "").lower().rstrip(".")
    return any(host == h or host.endswith("." + h) for h in hosts)


def is_tracking_image(src: str, width: str | None = None, height: str | None = None) -> bool:
    """An image whose purpose is to record that the message was opened: tiny (a side of at
    most 2 pixels: the 1x1 "open pixel"), or served by an analytics, advertising or
    mailing tool's tracker, or at a tracking path (/open, /pixel, /track, /beacon).
    Source: SPEC "Every marketing message" ("No tracking: no open pixel"); the privacy
    notice ("no tracking pixels"); ePrivacy Art. 5(3) (reading from the terminal needs
    consent); EDPB Guidelines 2/2023 on Art. 5(3) (tracking pixels in email).
    """
    for size in (width, height):
        found = _SIZE.match(size or "")
        if found and float(found.group(1)) <= 2:
            return True
    parts = urlsplit((src or "").strip())
    if parts.scheme not in ("http", "https", ""):
        return False
    if is_own_media(src):
        return False  # served by this app to everyone alike: no per-reader address
    return _host_in(parts.hostname or "", _TRACKER_HOSTS) or bool(
        _TRACKER_PATH.search(parts.path + ("?" + parts.query if parts.query else ""))
    )


def is_own_media(src: str) -> bool:
    """An image of this app's media library: BASE_URL/media/<content hash>. The same
    address for every reader, served by the app itself: no third party learns who opened
    the message, and nothing in it identifies the reader. Source: SPEC `/media/<name>`;
    EDPB Guidelines 2/2023 on Art. 5(3) (tracking pixels and unique links in email).
    """
    from .media import NAME

    if not has_app_context():
        return False
    base = str(current_app.config.get("BASE_URL") or "").rstrip("/") + "/media/"
    value = (src or "").strip()
    return value.startswith(base) and bool(NAME.fullmatch(value.removeprefix(base)))


def image_without_alt(image: dict) -> bool:
    """An image in a message with no text alternative: many mail programs block images
    until the reader allows them, and screen readers read the alt text aloud, so what
    the image says is lost. Sources: WCAG 2.1 SC 1.1.1 (non-text content); EN 301 549
    9.1.1.1; European Accessibility Act (Directive 2019/882), services of e-commerce.
    """
    return not " ".join((image.get("alt") or "").split())


def is_redirecting_link(href: str) -> bool:
    """A link that sends the reader through another server before the real page: a link
    shortener (bit.ly, …), a mailing tool's click tracker, a /track/ or /click path, or
    another URL carried in a parameter (?url=, ?redirect=, ?u=https…). The privacy notice
    promises "no rewritten links": links go to the author's URLs unchanged.
    Source: SPEC "Every marketing message" ("links go to the author's URLs unchanged");
    the privacy notice; GDPR Art. 5(1)(a) (transparency) and Art. 13.
    """
    parts = urlsplit((href or "").strip())
    if parts.scheme not in ("http", "https"):
        return False
    host = (parts.hostname or "").lower()
    if _host_in(host, _REDIRECT_HOSTS) or host.split(".")[0] in _REDIRECT_LABELS:
        return True
    if _REDIRECT_PATH.search(parts.path):
        return True
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name.lower() in _REDIRECT_PARAMS and value:
            return True
        if re.match(r"(?:https?:|www\.)", value.strip(), re.IGNORECASE):
            return True
    return False


def other_opt_out_ways(text: str) -> list[str]:
    """The sentences of `text` that offer another way to opt out than the system's online
    one: by phone, customer service, post, in a shop, by replying, by SMS ("to
    unsubscribe, call our customer service", "bel onze klantendienst om je af te melden",
    "pour vous désinscrire, appelez notre service clientèle").
    Source: GBA decision 19/2021 ("U kan dus niet vereisen dat de betrokkenen daartoe
    contact opnemen met de klantendienst of zich tot één van uw verkooppunten wenden";
    the opt-out must be online, in the medium used); GDPR Art. 12(2); SPEC rule 4
    ("never 'call customer service'").
    """
    found = []
    for sentence in _SENTENCE_END.split(text or ""):
        sentence = " ".join(sentence.split())
        if _OPT_OUT_WORDS.search(sentence) and _OTHER_CHANNEL.search(sentence):
            if sentence not in found:
                found.append(sentence)
    return found


def is_lookalike_opt_out_link(href: str, label: str, system_links: set[str]) -> bool:
    """A link whose words (or address) say unsubscribe, afmelden, uitschrijven,
    désinscrire, désabonner… but that does not go to the system's own unsubscribe or
    preferences page: it leads the reader to a page that records nothing.
    Source: GBA decision 19/2021 ("zorg dat het voldoende duidelijk is … hoe zij zich
    kunnen uitschrijven"); GDPR Art. 12(2); SPEC rule 4.
    """
    if href in system_links:
        return False
    address = urlsplit(href or "")
    says = _OPT_OUT_WORDS.search(label or "") or _OPT_OUT_WORDS.search(
        (address.path + " " + address.query).replace("-", " ").replace("_", " ")
    )
    return bool(says) or bool(re.search(r"optout|opt-out|unsubscribe", href or "", re.I))


class _Content(HTMLParser):
    """The links, images and readable text of the HTML before the system footer."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[list[str]] = []  # [href, words]
        self.images: list[dict] = []
        self.text: list[str] = []
        self.skip = 0  # inside <head>, <style>, <title>…
        self.open_link: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        values = {name: value or "" for name, value in attrs}
        if tag in ("head", "style", "script", "title", "template"):
            self.skip += 1
        elif tag == "a":
            self.open_link = [values.get("href", ""), ""]
            self.links.append(self.open_link)
        elif tag == "img":
            self.images.append(values)
            if self.open_link is not None:
                self.open_link[1] += " " + values.get("alt", "")
        if tag in ("p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "td", "table"):
            self.text.append("\n")

    def handle_endtag(self, tag):
        if tag in ("head", "style", "script", "title", "template") and self.skip:
            self.skip -= 1
        elif tag == "a":
            self.open_link = None
        if tag in ("p", "div", "li", "tr", "h1", "h2", "h3", "h4", "td", "table"):
            self.text.append("\n")

    def handle_data(self, data):
        if self.skip:
            return
        self.text.append(data)
        if self.open_link is not None:
            self.open_link[1] += data


def author_content_problems(page: str, text: str | None, system_links: set[str]) -> list[str]:
    """What the author's text or the layout adds that undoes the footer or the no-tracking
    promise: another way to opt out (`other_opt_out_ways`), a look-alike unsubscribe link
    (`is_lookalike_opt_out_link`), a tracking image (`is_tracking_image`) or a redirecting
    link (`is_redirecting_link`). Read on the HTML part before the system footer, and on
    the text part before its footer. Sources: as each function; SPEC rule 4.
    """
    from . import messages

    at = page.rfind("<div " + messages.FOOTER_MARK)
    content = _Content()
    content.feed(page[:at] if at >= 0 else page)
    content.close()
    problems = []
    written = "".join(content.text)
    if text is not None:
        cut = text.rfind(messages.TEXT_FOOTER_START)
        written += "\n" + (text[:cut] if cut >= 0 else text)
    for sentence in other_opt_out_ways(written):
        problems.append(
            f"the message offers another way to unsubscribe (\u201c{sentence[:160]}\u201d): "
            "remove that sentence from the message text (or the layout); opting out is done "
            "online, with the footer's link, never by phone, customer service, post, a shop or "
            f"a reply ({_GBA})"
        )
    for href, words in content.links:
        words = " ".join(words.split())
        if is_lookalike_opt_out_link(href, words, system_links):
            problems.append(
                f"the link \u201c{words[:80] or href}\u201d looks like an unsubscribe link but "
                f"goes to {href[:120]}, not to the system's unsubscribe page: remove it from the "
                f"message text (or the layout); the footer's link is the way to unsubscribe "
                f"({_GBA})"
            )
        elif is_redirecting_link(href):
            problems.append(
                f"the link to {href[:120]} goes through a redirector or click tracker: link "
                "to the page itself (the privacy notice promises no tracking and no rewritten "
                "links; SPEC \u201cEvery marketing message\u201d)"
            )
    for image in content.images:
        if is_tracking_image(image.get("src", ""), image.get("width"), image.get("height")) or (
            any(float(v) <= 2 for _n, v in _STYLE_SIZE.findall(image.get("style", "")))
        ):
            problems.append(
                f"the HTML part holds a tracking image ({image.get('src', '')[:120]}): remove "
                f"it from {_LAYOUT} (images the author adds that track are removed "
                "automatically; the privacy notice promises no tracking pixels; ePrivacy "
                "Art. 5(3))"
            )
        elif image_without_alt(image):
            problems.append(
                f"the image {image.get('src', '')[:120]} has no alt text: describe it, "
                "![what it shows](address) in Markdown, so that a reader whose mail program "
                "blocks images, or who uses a screen reader, knows what it shows (WCAG 2.1 "
                "SC 1.1.1; European Accessibility Act)"
            )
    return problems


def _message_links(parsed) -> set[str]:
    """The message's own unsubscribe and preferences links, from its headers."""
    found = {_angle_url(parsed.get("List-Help") or "")}
    found |= set(_ANGLED.findall(_unfold(parsed.get("List-Unsubscribe") or "")))
    return {link for link in found if link}


# --- Soft opt-in: the existing-customer exception covers the business's own products ---


def own_domains(config) -> set[str]:
    """The organisation's own domains: BASE_URL's host, the sender address's domain and
    NEWSLETTER_OWN_DOMAINS (subdomains of each count as own)."""
    from email.utils import parseaddr

    sender = config.get("MAIL_DEFAULT_SENDER") or ""
    sender = sender[1] if isinstance(sender, list | tuple) else parseaddr(sender)[1]
    found = {urlsplit(str(config.get("BASE_URL") or "")).hostname or ""}
    found.add(sender.rpartition("@")[2])
    found |= {str(d).strip().lower().removeprefix("www.") for d in config["OWN_DOMAINS"]}
    return {d.lower() for d in found if d}


def foreign_link_hosts(body_html: str, own: set[str]) -> list[str]:
    """The hosts of the body's links that are not the organisation's own."""
    content = _Content()
    content.feed(body_html)
    content.close()
    hosts = set()
    for href, _words in content.links:
        parts = urlsplit(href.strip())
        host = (parts.hostname or "").lower()
        if parts.scheme in ("http", "https") and host and not _host_in(host, own):
            hosts.add(host)
    return sorted(hosts)


def soft_opt_in_problems(topic: Topic, body_html: str, customers: int, config) -> list[str]:
    """A campaign that reaches existing customers without their consent (the soft opt-in)
    may advertise only the business's own similar products: its topic must have its
    product range written down, and its text may not link to another company's site.

    Refused, not merely warned about: the exception has no room for an admin's judgment
    ("U mag dus geen reclame (mee)sturen van een ander bedrijf"); a domain that is the
    organisation's own goes in NEWSLETTER_OWN_DOMAINS, a setting with an owner, not a
    checkbox ticked under time pressure. `customers`: how many of the recipients are
    there on the existing-customer basis (none: nothing to check).
    Sources: ePrivacy Directive Art. 13(2) ("its own similar products or services");
    Dutch Tw 11.7(3); Belgian KB 4-4-2003 art. 1; seed
    "direct-marketing-existing-customers"; checklist E1; SPEC rule 1.
    """
    if not customers or not topic.own_similar_products:
        return []
    problems = []
    if not (topic.product_range or "").strip():
        problems.append(
            f"the topic \u201c{topic.name}\u201d goes to {customers} existing customer(s) "
            "without their consent, but its product range is not written down: describe the "
            "products it is about (admin, Topics, Edit, or flask topics create … "
            "--product-range) (ePrivacy Art. 13(2): own similar products only)"
        )
    foreign = foreign_link_hosts(body_html, own_domains(config))
    if foreign:
        problems.append(
            f"this campaign goes to {customers} existing customer(s) without their consent "
            f"and links to other companies' sites ({', '.join(foreign[:10])}): the "
            "existing-customer exception covers only your own similar products (\u201cU mag "
            "dus geen reclame (mee)sturen van een ander bedrijf\u201d); remove those links, "
            "send it to a consent-only topic, or, if a domain is your own, add it to "
            "NEWSLETTER_OWN_DOMAINS (ePrivacy Art. 13(2); Tw 11.7(3); KB 4-4-2003 art. 1)"
        )
    return problems


# --- Rule 5: opt-out means purge: see subscriptions.erase(), which every opt-out uses --

# --- Rule 6: consent is re-asked every two years ---------------------------------------


def reconsent_due(subscriber: Subscriber, now: datetime, interval_days: int) -> bool:
    """A consent-based subscriber whose last consent is older than the interval.

    Source: seed "ap-advertising-consent-retention" (advice: ask again every two years);
    EDPB Guidelines 05/2020 §110 ("refresh at appropriate intervals"). SPEC rule 6.
    """
    if subscriber.status != SubscriberStatus.ACTIVE or subscriber.consented_at is None:
        return False
    return subscriber.consented_at <= now - timedelta(days=interval_days)


def reconsent_due_condition(now: datetime, interval_days: int) -> ColumnElement[bool]:
    """`reconsent_due` as an SQL condition on `Subscriber` (the re-consent job's query).
    Source: as `reconsent_due`. tests/test_compliance_time.py checks the two agree."""
    return and_(
        Subscriber.status == SubscriberStatus.ACTIVE,
        Subscriber.consented_at.is_not(None),
        Subscriber.consented_at <= now - timedelta(days=interval_days),
    )


def reconsent_clock_after(
    clock: datetime | None, given_at: datetime, covers_every_consent_list: bool
) -> datetime:
    """The re-consent clock (`Subscriber.consented_at`) after a consent given at `given_at`.

    Every consent, on every path (signup confirmation, the preferences page, a renewal,
    an import with evidence), starts the clock when it is not running: a customer who
    ticks a consent list on the preferences page is asked again like anyone else. The
    clock measures the oldest consent not renewed since: a consent covering all the
    person's consent lists moves it to the later of the two dates; one that adds lists
    leaves an older running clock as it is (the older lists are not re-consented by it).
    Source: SPEC rule 6; seed "ap-advertising-consent-retention" (ask again every two
    years); EDPB Guidelines 05/2020 §110; checklist D6.
    """
    if clock is None:
        return given_at
    if covers_every_consent_list:
        return max(clock, given_at)
    return min(clock, given_at)


def reconsent_lapsed(subscriber: Subscriber, now: datetime, grace_days: int) -> bool:
    """A re-consent request unanswered for the grace period: no more mail, erase.

    Renewal clears `reconsent_requested_at`, so only an open request can lapse.
    Source: seed "ap-advertising-consent-retention"; checklist D6 ("non-responders
    suppressed"); SPEC rule 6 ("no answer means no more mail, and purge").
    """
    if subscriber.reconsent_requested_at is None:
        return False
    return subscriber.reconsent_requested_at <= now - timedelta(days=grace_days)


def reconsent_lapsed_condition(now: datetime, grace_days: int) -> ColumnElement[bool]:
    """`reconsent_lapsed` as an SQL condition on `Subscriber`. Source: as
    `reconsent_lapsed`."""
    return and_(
        Subscriber.reconsent_requested_at.is_not(None),
        Subscriber.reconsent_requested_at <= now - timedelta(days=grace_days),
    )


def customer_basis_lapsed(subscriber: Subscriber, now: datetime, basis_days: int) -> bool:
    """The existing-customer exception no longer covers someone whose last purchase is
    older than `basis_days` (NEWSLETTER_CUSTOMER_BASIS_DAYS).

    The exception rests on a current customer relationship; the law sets no period, so
    we use the re-consent interval's logic (two years by default): a person who has not
    bought for that long is no longer a customer whose reasonable expectations cover our
    mail. Source: ePrivacy Directive Art. 13(2); Dutch Tw 11.7(3); seed
    "direct-marketing-existing-customers"; checklist E1; SPEC rules 1 and 6.
    """
    if subscriber.purchased_at is None:
        return True
    return subscriber.purchased_at <= now - timedelta(days=basis_days)


def customer_basis_lapsed_condition(now: datetime, basis_days: int) -> ColumnElement[bool]:
    """`customer_basis_lapsed` as an SQL condition on `Subscriber`. Source: as
    `customer_basis_lapsed`."""
    return or_(
        Subscriber.purchased_at.is_(None),
        Subscriber.purchased_at <= now - timedelta(days=basis_days),
    )


# --- Rule 7: retention periods ----------------------------------------------------------

# Every kind of personal data, the configuration key of its period, and the unit. The
# privacy notice and docs/RETENTION.md show each of them; tests/test_privacy.py checks
# that the notice follows every key.
RETENTION_PERIODS: dict[str, tuple[str, str]] = {
    "unconfirmed-signups": ("CONFIRM_MAX_AGE_HOURS", "hours"),
    "deliveries": ("DELIVERY_RETENTION_DAYS", "days"),
    "audit-log": ("AUDIT_RETENTION_DAYS", "days"),
    "outbox": ("OUTBOX_RETENTION_DAYS", "days"),
    "consent-evidence": ("CONSENT_EVIDENCE_RETENTION_DAYS", "days"),
    "rights-requests": ("RIGHTS_REQUEST_RETENTION_DAYS", "days"),
    "customer-basis": ("CUSTOMER_BASIS_DAYS", "days"),
    "reconsent-interval": ("RECONSENT_INTERVAL_DAYS", "days"),
    "reconsent-grace": ("RECONSENT_GRACE_DAYS", "days"),
}


def retention_cutoff(kind: str, now: datetime, config) -> datetime:
    """Data of this kind dated before the returned moment must be deleted or anonymised.

    Source: GDPR Art. 5(1)(e) (storage limitation) and Art. 13(2)(a) (the period is
    stated); seed "ap-advertising-consent-retention" ("U moet de bewaartermijnen opnemen
    in uw privacyverklaring", "vernietigen of anonimiseren"); SPEC rule 7.
    """
    key, unit = RETENTION_PERIODS[kind]
    return now - timedelta(**{unit: config[key]})


# --- Bounces and complaints (hardening): checklist C3, C4 -------------------------------

COMPLAINT_WARNING_RATE = 0.001  # 0.1 %: warn
COMPLAINT_PAUSE_RATE = 0.003  # 0.3 %: the mailbox providers' line; pause the sending


def complaint_objection_channels() -> tuple[str, ...]:
    """A spam complaint is an objection to direct marketing, on every channel.

    Marking a message as spam is the person saying "stop": an objection under GDPR
    Art. 21(2)-(3), which covers all direct marketing (Art. 21(3)), so every channel of
    the objection register is suppressed, at once. Sources: checklist C3 (ingest ARF
    complaints, suppress at once) and G1; GBA decision 19/2021; SPEC rule 3.
    """
    return Channel.ALL


def bounce_suppression_channels() -> tuple[str, ...]:
    """A dead mailbox says nothing about the person's other channels: email only.

    Source: checklist C4 (suppress after repeated 5.x.x); not an objection.
    """
    return (Channel.EMAIL,)


def suppress_after_bounces(
    hard_in_a_row: int, bounces_in_a_row: int, hard_limit: int, soft_limit: int
) -> bool:
    """Stop mailing an address whose latest deliveries bounced too often in a row.

    Hard bounces (5.x.x) suppress after `hard_limit` in a row; any bounce, soft ones
    (4.x.x reported as failed) included, after `soft_limit` in a row. Sources: checklist
    C4 (RFC 3464 DSN parsing, retry 4.x.x, suppress after repeated 5.x.x); Google and
    Yahoo bulk-sender rules (keep bounces low); NEWSLETTER_BOUNCE_HARD_LIMIT/_SOFT_LIMIT.
    """
    return (hard_limit > 0 and hard_in_a_row >= hard_limit) or (
        soft_limit > 0 and bounces_in_a_row >= soft_limit
    )


def complaint_rate_level(complaints: int, sent: int) -> str:
    """ "ok", "warning" at 0.1 % complaints, "pause" at 0.3 % (of messages handed over).

    Source: checklist C3 (warn at 0.1 %, pause at 0.3 %); Google's and Yahoo's 2024
    sender requirements (spam rate below 0.3 %, aim for 0.1 %).
    """
    rate = complaints / sent if sent else 0.0
    if rate >= COMPLAINT_PAUSE_RATE:
        return "pause"
    if rate >= COMPLAINT_WARNING_RATE:
        return "warning"
    return "ok"


# --- For the regulator: transfers, breaches (GDPR Art. 30, 33, 44-46) -------------------

# The EEA: the 27 EU member states and Iceland, Liechtenstein, Norway (ISO 3166-1 codes;
# "EL" is the EU's own code for Greece).
EEA_COUNTRIES = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR EL HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE "
    "IS LI NO".split()
)
# Countries with an adequacy decision of the European Commission (GDPR Art. 45(3)).
ADEQUACY_DECISIONS = {
    "AD": "Andorra",
    "AR": "Argentina",
    "CA": "Canada (commercial organisations under PIPEDA only)",
    "CH": "Switzerland",
    "FO": "Faroe Islands",
    "GB": "United Kingdom",
    "GG": "Guernsey",
    "IL": "Israel",
    "IM": "Isle of Man",
    "JE": "Jersey",
    "JP": "Japan",
    "KR": "Republic of Korea",
    "NZ": "New Zealand",
    "US": "United States (only organisations certified under the EU-US Data Privacy "
    "Framework, decision of 10 July 2023)",
    "UY": "Uruguay",
}
# Names an operator may write instead of the code (English, Dutch, French), "|"-separated.
_COUNTRY_NAMES = {
    "AT": "austria|oostenrijk|autriche",
    "BE": "belgium|belgië|belgie|belgique",
    "BG": "bulgaria|bulgarije|bulgarie",
    "HR": "croatia|kroatië|croatie",
    "CY": "cyprus|chypre",
    "CZ": "czechia|czech republic|tsjechië|tchéquie",
    "DK": "denmark|denemarken|danemark",
    "EE": "estonia|estland|estonie",
    "FI": "finland|finlande",
    "FR": "france|frankrijk",
    "DE": "germany|duitsland|allemagne",
    "GR": "greece|griekenland|grèce",
    "HU": "hungary|hongarije|hongrie",
    "IE": "ireland|ierland|irlande",
    "IT": "italy|italië|italie",
    "LV": "latvia|letland|lettonie",
    "LT": "lithuania|litouwen|lituanie",
    "LU": "luxembourg|luxemburg",
    "MT": "malta|malte",
    "NL": "netherlands|the netherlands|nederland|pays-bas",
    "PL": "poland|polen|pologne",
    "PT": "portugal",
    "RO": "romania|roemenië|roumanie",
    "SK": "slovakia|slowakije|slovaquie",
    "SI": "slovenia|slovenië|slovénie",
    "ES": "spain|spanje|espagne",
    "SE": "sweden|zweden|suède",
    "IS": "iceland|ijsland|islande",
    "LI": "liechtenstein",
    "NO": "norway|noorwegen|norvège",
    "CH": "switzerland|zwitserland|suisse",
    "GB": "uk|united kingdom|verenigd koninkrijk|royaume-uni",
    "US": "usa|united states|verenigde staten|états-unis|etats-unis",
    "CA": "canada",
    "JP": "japan|japon",
}
COUNTRY_NAMES = {name: code for code, names in _COUNTRY_NAMES.items() for name in names.split("|")}


def country_code(country: str) -> str | None:
    """The ISO 3166-1 code of a country written as a code or a common name, else None."""
    text = " ".join(country.strip().lower().split())
    if len(text) == 2 and text.isalpha():
        return {"el": "GR", "uk": "GB"}.get(text, text.upper())
    return COUNTRY_NAMES.get(text)


def transfer_safeguard(country: str, documented: str | None = None) -> str | None:
    """What must be on record for personal data going to `country`; None inside the EEA.

    A processor outside the EEA is a transfer to a third country, lawful only under an
    adequacy decision (GDPR Art. 45) or with appropriate safeguards such as the
    Commission's standard contractual clauses (Art. 46(2)(c)); the record of processing
    names the third country (Art. 30(1)(e)) and the privacy notice the safeguard
    (Art. 13(1)(f)). A country that is not recognised is treated as outside the EEA: the
    operator must check it. `documented` is the safeguard the operator wrote down.
    """
    code = country_code(country)
    if code in EEA_COUNTRIES:
        return None
    if documented:
        return f"transfer outside the EEA; safeguard on record: {documented}"
    if code in ADEQUACY_DECISIONS:
        return (
            f"transfer outside the EEA, covered by the adequacy decision for "
            f"{ADEQUACY_DECISIONS[code]} (GDPR Art. 45): confirm it applies and record it "
            f'as "safeguard"'
        )
    where = code or f"{country!r}, not recognised as an EEA country"
    return (
        f"transfer outside the EEA ({where}) with no safeguard on record: sign the "
        f"Commission's standard contractual clauses (GDPR Art. 46(2)(c)) or another Art. 46 "
        f'safeguard with this processor, and record it as "safeguard"'
    )


BREACH_NOTIFICATION_HOURS = 72


def breach_notification_overdue(
    discovered_at: datetime, authority_notified: bool, now: datetime
) -> bool:
    """True when a breach discovered over 72 hours ago has not been notified.

    GDPR Art. 33(1): notify the supervisory authority without undue delay and, where
    feasible, within 72 hours of becoming aware of it, unless it is unlikely to result
    in a risk to people; a later notification gives the reasons for the delay. The log
    (Art. 33(5)) should then say why it was not notified (EDPB Guidelines 9/2022 §104).
    A warning for the admin, not a block: the controller makes the call.
    """
    due = discovered_at + timedelta(hours=BREACH_NOTIFICATION_HOURS)
    return not authority_notified and now > due


# --- Erasure and access (issue 13): GDPR Art. 15, 16, 17, 5(1)(c), 32 -------------------

REDACTED = "[address removed]"
SMTP_REPLY_MAX_CHARS = 500  # the size of delivery.last_error
# How an "@" is written when a reply or report quotes an address in an encoded form:
# plain, URL-encoded, quoted-printable / RFC 2047 Q, HTML entities, spelled out.
_AT_FORMS = ("@", "%40", "=40", "&#64;", "&#x40;", "(at)", "[at]", " at ")
# Anything address-shaped left over (another address of the person: an alias, a forward).
_ANY_ADDRESS = re.compile(r"[^\s<>\"'(),;:\[\]]+@[^\s<>\"'(),;:\[\]]+\.[^\s<>\"'(),;:\[\]]{2,}")


def redact_address(text: str | None, *addresses: str) -> str | None:
    """A server's reply or report text with every copy of the recipient's address removed.

    Servers quote the recipient in their replies ("550 5.1.1 <jan@example.be>: user
    unknown"); stored as such, the address would outlive its erasure in
    `delivery.last_error`, the logs and the database file's bytes. Removed, whatever the
    case: each given address whole (so its angle-bracketed form too), its encoded forms
    (URL, quoted-printable / RFC 2047, HTML entity, base64, the IDNA and Unicode
    spellings of the domain), its local part as a word of its own, then anything else
    address-shaped. The reply's code and enhanced status stay: that is what is needed.
    Sources: GDPR Art. 5(1)(c) (data minimisation), Art. 17(1) (erasure of every copy),
    Art. 32 (security of processing); SPEC "Data kept after an opt-out or erasure" (the
    address is gone from every table, log and the database file's bytes).
    """
    if not text:
        return text
    import unicodedata

    result = unicodedata.normalize("NFKC", str(text))
    for address in addresses:
        for pattern in _address_patterns(address):
            result = pattern.sub(REDACTED, result)
    return _ANY_ADDRESS.sub(REDACTED, result)


def _address_patterns(address: str | None) -> list[re.Pattern]:
    """The expressions that find one address in its written forms (`redact_address`)."""
    import base64
    import unicodedata
    from urllib.parse import quote

    address = unicodedata.normalize("NFKC", address or "").strip()
    local, _, domain = address.rpartition("@")
    if not local or not domain:
        return []
    domains = {domain}
    for convert in (lambda d: d.encode("idna").decode(), lambda d: d.encode().decode("idna")):
        try:
            domains.add(convert(domain))
        except UnicodeError:
            pass
    locals_ = {local, quote(local, safe=""), f'"{local}"'}
    forms = {f"{lp}{at}{d}" for lp in locals_ for at in _AT_FORMS for d in domains}
    forms |= {quote(f"{local}@{d}", safe="") for d in domains}
    forms.add(base64.b64encode(address.encode()).decode("ascii").rstrip("="))
    whole = "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))
    patterns = [re.compile(whole, re.IGNORECASE)]
    if len(local) >= 3:  # "a" or "jo" alone would blank ordinary words, and says little
        bare = "|".join(re.escape(lp) for lp in sorted(locals_, key=len, reverse=True))
        # The local part alone ("mailbox jan.peeters unknown"), as a word of its own.
        patterns.append(re.compile(rf"(?<![\w.+%-])(?:{bare})(?![\w+%-]|\.\w)", re.I))
    return patterns


def smtp_reply_for_storage(reply: str | None, *addresses: str) -> str | None:
    """The part of a server's reply that may be stored (`delivery.last_error`) or logged:
    redacted (`redact_address`), cut to the column's size. GDPR Art. 5(1)(c), 17, 32."""
    text = redact_address(reply, *addresses)
    return text[:SMTP_REPLY_MAX_CHARS] if text else text


# The sections of an access export: everything kept about the person (Art. 15(1), (3)).
ACCESS_EXPORT_SECTIONS = (
    "email",
    "name",
    "locale",
    "subscriptions",
    "consent_events",
    "deliveries",
    "bounce_events",
    "outbox_messages",
    "objections",
    "rights_requests",
    "pending_address_changes",
    "lapsed_bases",
    "retired_public_ids",
    "held_under_hash",
)
FORMER_EXPORT_SECTIONS = (
    "consent_events",
    "objections",
    "rights_requests",
    "lapsed_bases",
    "retired_public_ids",
    "held_under_hash",
)


def access_export_complete(data: dict, former: bool = False) -> list[str]:
    """The sections an access export lacks (an empty list: complete).

    A subscriber's export holds every kind of data kept about them: profile,
    subscriptions, consent events with their evidence, deliveries with the (redacted)
    SMTP replies, bounce events, the outbox copies of mails to them, objections and
    suppression rows, rights requests, a pending address change, and what is kept under
    the keyed hash (the markers of a lapsed basis, the retired public ids of older
    links). A former subscriber's holds what is still kept under the hash.
    Sources: GDPR Art. 15(1) (access to "the personal data"), 15(3) (a copy of the data
    undergoing processing), 12(1) (concise, intelligible, plain language); EDPB
    Guidelines 01/2022 on the right of access §§ 35-36 (all data, also pseudonymised
    data the controller can link to the person); checklist G3.
    """
    wanted = FORMER_EXPORT_SECTIONS if former else ACCESS_EXPORT_SECTIONS
    return [section for section in wanted if section not in data]


EXPORT_LINK_MAX_AGE_HOURS = 1


def access_link_mail_allowed(subject_hash: str, now: datetime, per_day: int) -> bool:
    """May one more "download your data" link be mailed to this address now?

    The data leave only through a fresh, short-lived link mailed to the address itself
    (whoever holds a forwarded preferences link must not download the person's data, IP
    addresses included); at most `per_day` such mails in 24 hours (the
    NEWSLETTER_CONFIRM_MAILS_PER_ADDRESS cap), so that the button cannot flood a mailbox.
    The link is valid for EXPORT_LINK_MAX_AGE_HOURS.
    Sources: GDPR Art. 12(6) and EDPB Guidelines 01/2022 §§ 60-79 (confirm the identity
    of the requester, proportionately: e.g. through the address the data are about),
    Art. 32(1)(b) (confidentiality), Art. 12(5) (excessive requests); checklist H1.
    """

    since = now - timedelta(hours=24)
    count = db.session.scalar(
        select(func.count())
        .select_from(RightsRequest)
        .where(
            RightsRequest.subject_hash == subject_hash,
            RightsRequest.kind == RequestKind.EXPORT,
            RightsRequest.channel == "mail",
            RightsRequest.requested_at >= since,
        )
    )
    return count < per_day


RECTIFIABLE_AT_ONCE = ("name", "locale")


def rectification_applies_at_once(field: str) -> bool:
    """Does a correction of this field take effect at once?

    Name and language: yes, the person corrects their own data (Art. 16: "without undue
    delay"); logged without the address. The address: no; it moves only when a
    confirmation link mailed to the new address is used (a new double opt-in), because
    marketing mail to an address needs the consent of whoever holds it, and a mistyped
    or someone else's address must never start receiving mail. Until then the old
    address stays subscribed; on confirmation it is replaced everywhere.
    Sources: GDPR Art. 16 (rectification), Art. 5(1)(d) (accuracy), Art. 7(1) and
    ePrivacy Art. 13(1) (consent of the holder of the address), Art. 32; SPEC rule 1.
    """
    return field in RECTIFIABLE_AT_ONCE


# How long the link mailed to the current address to approve an address change is valid.
ADDRESS_APPROVAL_MAX_AGE_HOURS = 1
# Who may ask the new address to confirm at once: the admin, who acts on the person's
# own request and checks who is asking (as for an export from the admin).
ADDRESS_CHANGE_APPROVED_BY = ("current-address", "admin")


def address_change_first_approved_by_current_address(requested_by: str) -> bool:
    """Must the current address approve an address change before the new address is asked?

    Yes when the change is asked from the preferences page (`requested_by` "subscriber"):
    that page opens from a link in every newsletter, and a newsletter is forwarded. Whoever
    holds the link could otherwise move the subscription to an address they read, then get
    the person's mail and, through the "download my data" link mailed to the (new)
    address, their data (IP addresses included). So a short-lived link
    (ADDRESS_APPROVAL_MAX_AGE_HOURS) is mailed to the current address first, naming the
    new one; only once it is used does the new address get its confirmation link (a new
    double opt-in, `rectification_applies_at_once`). No for the admin ("admin"): the admin
    acts on the person's request and checks their identity (GDPR Art. 12(6)).
    Sources: GDPR Art. 5(1)(f) (integrity and confidentiality), Art. 16 (rectification
    at the data subject's request, not a third party's), Art. 32 (security of
    processing), Art. 12(6); SPEC rule 1 (no mail without the holder's consent).
    """
    return requested_by != "admin"


# --- Notice and plumbing: the contact and the mailto opt-out must reach someone ----------
# (issue 13, problem 7). Warnings for the operator (the admin's dashboard, and the log of
# `flask worker` and `flask run` at start), not blocks: only the operator can tell whether
# a person reads a mailbox.

# Local parts that say "nobody reads this" (case-insensitive, a "+tag" ignored): noreply,
# no-reply, no_reply, donotreply, do-not-reply, dontreply; in Dutch and French
# niet-antwoorden, geen-antwoord, ne-pas-repondre (also inside a longer name:
# newsletter-noreply@).
_NOREPLY_LOCAL_PART = re.compile(
    r"(no|do[-_.]?not|dont)[-_.]?reply|niet[-_.]?(be)?antwoorden|geen[-_.]?antwoord"
    r"|ne[-_.]?pas[-_.]?r[eé]pondre",
    re.IGNORECASE,
)


def looks_unread(address: str) -> bool:
    """Does the local part of `address` say that nobody reads it (noreply@, no-reply@,
    donotreply@ ...)?"""
    local = address.strip().rpartition("@")[0].split("+", 1)[0].strip("<\"' ")
    return bool(_NOREPLY_LOCAL_PART.search(local))


def privacy_contact_unread(config, contact: str) -> str | None:
    """A warning when the privacy notice's contact looks like a mailbox nobody reads.

    GDPR Art. 13(1)(a) (the notice gives the controller's contact details) and Art. 12(2)
    (the controller facilitates the exercise of the rights): a `noreply@` address, the
    usual sender of a newsletter and the notice's contact when NEWSLETTER_CONTROLLER_CONTACT
    is unset, promises an answer that never comes. None when the contact looks read.
    """
    if not looks_unread(contact):
        return None
    if config.get("CONTROLLER_CONTACT"):
        where = "NEWSLETTER_CONTROLLER_CONTACT is"
    else:
        where = "NEWSLETTER_CONTROLLER_CONTACT is unset, so the privacy notice falls back to"
    return (
        f"{where} {contact}, an address that says nobody reads it: people are told to write "
        "there to exercise their rights (GDPR Art. 12(2), 13(1)(a)). Set "
        "NEWSLETTER_CONTROLLER_CONTACT to a mailbox that a person reads, e.g. "
        "privacy@your-domain."
    )


def unsubscribe_mailto_unread(config, mailto_address: str, mailbox_polled: bool) -> str | None:
    """A warning when the `mailto:` in every message's List-Unsubscribe reaches nobody.

    Every message advertises, beside the one-click https link, `mailto:ADDRESS?subject=
    unsubscribe TOKEN` (messages.unsubscribe_mailto). RFC 2369 §3.2: List-Unsubscribe
    "describes the command (preferably using mail) to directly unsubscribe the user";
    RFC 8058 §3.1: beside its one HTTPS URI the field "MAY contain other non-HTTP/S URIs
    such as MAILTO:", which mail clients without one-click use. Each URI is a promise
    that using it unsubscribes: GDPR Art. 21(2)-(3) (an objection stops the processing)
    and the GBA (decision 19/2021; an opt-out offered must work, online, in the medium
    used) make a mailto that nothing reads an objection ignored. The app honours those
    mails itself only when it polls the mailbox they arrive in (NEWSLETTER_BOUNCE_MAILBOX_*,
    newsletter/bounce_mailbox.py) and the mailto points at it (NEWSLETTER_UNSUBSCRIBE_MAILTO).

    `mailbox_polled`: a bounce mailbox is configured (bounce_mailbox.configured()). None when
    the mailto is read by the app; otherwise the warning in plain words.
    """
    if not mailbox_polled:
        return (
            f"Every message offers unsubscribing by mail to {mailto_address}, but the app "
            "reads no mailbox, so those requests are never honoured. Set "
            "NEWSLETTER_BOUNCE_MAILBOX_PROTOCOL, _HOST, _USERNAME and _PASSWORD to the "
            "mailbox that receives them (and NEWSLETTER_UNSUBSCRIBE_MAILTO to its address): "
            "the worker then honours each request within minutes. Until then a person must "
            f"act on every mail to {mailto_address} within two days (RFC 2369, RFC 8058, "
            "GDPR Art. 21(3))."
        )
    if not config.get("UNSUBSCRIBE_MAILTO"):
        return (
            f"Every message offers unsubscribing by mail to {mailto_address} (the default: "
            "NEWSLETTER_UNSUBSCRIBE_MAILTO is unset), but the app reads the mailbox of "
            f"NEWSLETTER_BOUNCE_MAILBOX_HOST ({config.get('BOUNCE_MAILBOX_HOST')}), which "
            f"may not be where {mailto_address} is delivered. Set "
            "NEWSLETTER_UNSUBSCRIBE_MAILTO to the address of the polled mailbox (or to "
            f"{mailto_address} once it delivers there)."
        )
    return None


# --- everyday admin (issue 16): one person added by hand -----------------------------------


def refusal_of_manual_signup(address_hash: str) -> str | None:
    """Why an admin may not add this address by hand (None: they may, as a pending
    double opt-in). An address that objected to email (opt-out, erasure, complaint) is
    refused: an objection is absolute (GDPR Art. 21(2)-(3)) and "an import or an admin
    cannot re-add a suppressed address" (SPEC, data kept after an opt-out). The person
    may come back themselves through the signup form (a new consent). The keyed hash,
    never the address, is looked up."""
    found = db.session.scalar(
        select(Suppression.id).where(
            Suppression.address_hash == address_hash, Suppression.channel == Channel.EMAIL
        )
    )
    if found is None:
        return None
    return (
        "This address is on the suppression list (the person unsubscribed or objected), so "
        "it cannot be added by hand, and no confirmation mail was sent. The person can "
        "sign up again themselves, through the signup form."
    )
