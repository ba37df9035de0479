"""The legal rules the software enforces, each one function, in one place.

Views, the sender, the importer and the jobs call these; none of them re-implements a
rule. Each docstring names the rule's source (SPEC "Legal rules" numbering, the seed
documents in shared/legal-sources/, and COMPLIANCE-CHECKLIST.md items). Each rule has a
test named after it in tests/test_compliance.py. docs/COMPLIANCE.md is the index.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Exists, and_, exists, func, or_, select

from .extensions import db
from .models import (
    Basis,
    Channel,
    ConfirmationSend,
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
    query = select(Suppression.address_hash).where(
        Suppression.channel == channel, Suppression.address_hash.in_(address_hashes)
    )
    return set(db.session.scalars(query))


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
FOOTER_REASON = "You receive this email because"
_FIELD_START = re.compile(r"\r?\n(?![ \t])")  # a line break not followed by a fold
_FOLD = re.compile(r"\r?\n[ \t]")
_MESSAGE_ID = re.compile(r"<[^<>@\s]+@[^<>@\s]+>")
_LIST_ID = re.compile(r"<[^<>\s]+>\s*$")
_ANGLED = re.compile(r"<([^<>\s]+)>")


def check_marketing_message(message) -> list[str]:
    """Every problem that forbids handing this marketing message to SMTP (empty: fine).

    Both opt-outs in the medium used, in headers and in both body parts: the
    unsubscribe-from-all link and the preferences link, plus the sender's identity and
    why the person gets the message. Sources: SPEC rule 4 and "Every marketing message";
    Belgian DPA decision 19/2021; ePrivacy Art. 13(4); RFC 2369, RFC 8058, RFC 5322;
    checklist A1-A4, A8, A9, B6, B7, F. Takes raw bytes or an `email` message.
    """
    if isinstance(message, bytes | bytearray):
        raw = bytes(message)
    else:  # serialise as parsed: refolding long header lines would alter the URLs
        raw = message.as_bytes(policy=message.policy.clone(max_line_length=None))
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    missing: list[str] = []
    text, page = _alternative_parts(parsed, missing)
    return _rule_4_problems(parsed, raw.split(b"\n"), text, page, missing)


def check_marketing_parts(head: str, text: str, page: str) -> list[str]:
    """`check_marketing_message` for a message the sender built itself, without parsing it.

    The same rules on the same text: the header block as written, and the text and HTML
    bodies as they are before base64, which is what a mail client decodes. What this does
    not see is the MIME skeleton around the two bodies (boundaries, part headers, base64
    lines of 76 octets); it is the same for every message of a prepared campaign, and the
    sender checks one whole message of each prepared campaign with
    `check_marketing_message` before any message of it goes out. SPEC rule 4, as above.
    """
    return _rule_4_problems(_HeaderBlock(head), head.encode("utf-8").split(b"\n"), text, page, [])


def _rule_4_problems(headers, lines, text: str | None, page: str | None, missing) -> list[str]:
    problems = _header_problems(headers)
    if any(len(line) > 998 for line in lines):
        problems.append("a line is longer than 998 octets (RFC 5322 2.1.1)")
    unsubscribe = _one_https_unsubscribe(headers, problems)
    preferences = _angle_url(headers.get("List-Help", ""))
    problems += missing
    identity = [html.unescape(_config(k)) for k in ("ORGANIZATION_NAME", "ORGANIZATION_ADDRESS")]
    for label, part in (("text", text), ("HTML", page)):
        if part is None:
            continue
        if unsubscribe and unsubscribe not in part:
            problems.append(f"the {label} part lacks the unsubscribe-from-all link")
        if preferences and preferences not in part:
            problems.append(f"the {label} part lacks the preferences link")
        # Unescaped only when not found as it is (unescaping a whole page is the dear part).
        if any(n not in part and n not in html.unescape(part) for n in identity):
            problems.append(f"the {label} part lacks the sender's name and postal address")
        if FOOTER_REASON not in part:
            problems.append(f"the {label} part does not say why the person receives it")
    if page is not None and unsubscribe and f'href="{unsubscribe}"' not in page:
        problems.append("the unsubscribe link is not a clickable link in the HTML part")
    return problems


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
            problems.append(f"{name} header present {count} times, must be exactly once")
    if not _MESSAGE_ID.fullmatch((parsed.get("Message-ID") or "").strip()):
        problems.append("Message-ID is not of the form <id@domain>")
    if (parsed.get("List-Unsubscribe-Post") or "").strip() != ONE_CLICK:
        problems.append(f"List-Unsubscribe-Post must be exactly '{ONE_CLICK}' (RFC 8058)")
    if not _LIST_ID.search(_unfold(parsed.get("List-Id") or "")):
        problems.append("List-Id has no <list-id> (RFC 2919)")
    if not _angle_url(parsed.get("List-Help") or "").startswith("https://"):
        problems.append("List-Help must point to the https preferences page (RFC 2369)")
    if parsed.get_content_type() != "multipart/alternative":
        problems.append("the message is not multipart/alternative (text and HTML)")
    return problems


def _unfold(value: str) -> str:
    return _FOLD.sub(" ", str(value))


def _angle_url(value) -> str:
    found = _ANGLED.findall(_unfold(value or ""))
    return found[0] if len(found) == 1 else ""


def _one_https_unsubscribe(parsed, problems: list[str]) -> str:
    uris = _ANGLED.findall(_unfold(parsed.get("List-Unsubscribe") or ""))
    https = [u for u in uris if u.startswith("https://")]
    others = [u for u in uris if not u.startswith(("https://", "mailto:"))]
    if len(https) != 1 or others:
        problems.append("List-Unsubscribe must hold exactly one https URI (and a mailto)")
        return ""
    return https[0]


def _alternative_parts(parsed, problems: list[str]) -> tuple[str | None, str | None]:
    found: dict[str, str] = {}
    for part in parsed.walk():
        kind = part.get_content_type()
        if kind in ("text/plain", "text/html") and kind not in found:
            payload = part.get_payload(decode=True) or b""
            found[kind] = payload.decode(part.get_content_charset() or "utf-8", "replace")
    for kind, label in (("text/plain", "text"), ("text/html", "HTML")):
        if kind not in found:
            problems.append(f"the message has no {label} part")
    return found.get("text/plain"), found.get("text/html")


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


def reconsent_lapsed(subscriber: Subscriber, now: datetime, grace_days: int) -> bool:
    """A re-consent request unanswered for the grace period: no more mail, erase.

    Renewal clears `reconsent_requested_at`, so only an open request can lapse.
    Source: seed "ap-advertising-consent-retention"; checklist D6 ("non-responders
    suppressed"); SPEC rule 6 ("no answer means no more mail, and purge").
    """
    if subscriber.reconsent_requested_at is None:
        return False
    return subscriber.reconsent_requested_at <= now - timedelta(days=grace_days)


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
    return now - timedelta(**{unit: int(config[key])})


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
