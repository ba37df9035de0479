"""One row: parse and validate its cells, then decide its outcome."""

from __future__ import annotations

import re
from datetime import datetime

from .. import compliance, i18n
from ..addresses import InvalidAddressError, normalise
from ..clock import as_utc
from ..defaults import DEFAULT_TOPIC_SLUG
from ..models import (
    Basis,
    Subscriber,
    Topic,
)

# The consent evidence columns (basis consent) and the customer's (existing-customer);
from .report import (
    ACTIVE,
    CONSENT_EVIDENCE,
    CUSTOMER,
    CUSTOMER_EVIDENCE,
    EVIDENCE_LIMITS,
    PLAIN_ADDRESS,
    UNCHANGED,
    UPDATED,
    ImportContext,
    ImportRow,
    SkipRow,
)

# --- one row: parse and validate --------------------------------------------------------


def row_address(cells: dict, ctx: ImportContext) -> str:
    """The row's address, normalised, or SkipRow with the reason."""
    if cells.get("__extra__"):
        raise SkipRow("more cells than columns (a comma inside a value must be quoted)")
    try:
        return normalise_address(cells.get("email", ""), ctx.domains)
    except InvalidAddressError as exc:
        raise SkipRow(f"invalid address: {exc}") from exc


def parse_row(line: int, cells: dict, address: str, digest: str, ctx: ImportContext) -> ImportRow:
    """A valid row (its address already checked and not a duplicate), or SkipRow."""
    return ImportRow(
        line=line,
        address=address,
        digest=digest,
        name=_name(cells.get("name", "")),
        locale=_locale(cells.get("locale", "")),
        topics=_topics(cells.get("topics", ""), ctx),
        consented_at=_date(cells, "consented_at", ctx.now),
        purchased_at=_date(cells, "purchased_at", ctx.now),
        evidence={c: _evidence(cells, c) for c in (*CONSENT_EVIDENCE, *CUSTOMER_EVIDENCE)},
    )


def normalise_address(raw: str, domains: dict[str, bool]) -> str:
    """`addresses.normalise`, with the domain checked once per import (it dominates).

    A plain ASCII address on a domain already found valid normalises to itself in lower
    case; anything else goes through `normalise` in full. tests/test_import.py checks
    that both give the same answer.
    """
    text = raw.strip().lower()
    match = PLAIN_ADDRESS.fullmatch(text) if len(text) <= 254 else None
    if match is None or len(text) - len(match.group(1)) > 65:
        return normalise(raw)
    domain = match.group(1)
    if domain not in domains:
        try:
            normalise(f"a@{domain}")
            domains[domain] = True
        except InvalidAddressError:
            domains[domain] = False
    return text if domains[domain] else normalise(raw)


def _name(raw: str) -> str | None:
    text = raw.strip()
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise SkipRow("name contains line breaks or control characters")
    if len(text) > 200:
        raise SkipRow("name longer than 200 characters")
    return text or None


def _locale(raw: str) -> str:
    """A supported language for the row (`nl_BE`, `NL`, `fr-be` ... -> nl/fr/en); a
    well-formed but unsupported one (`de`) gets the default language; not a locale at
    all: the row is skipped (docs/IMPORTS.md)."""
    text = raw.strip()
    if not text:
        return i18n.default_language()
    language = i18n.normalize_locale(text)
    if language is None and not i18n.is_locale_code(text):
        raise SkipRow(f"invalid locale {text[:20]!r} (use a language code such as nl, fr, en)")
    return language or i18n.default_language()


def _topics(raw: str, ctx: ImportContext) -> list[Topic]:
    # `;` between slugs; a `,` too (a slug has neither), as typed in a semicolon file's cell
    parts = re.split(r"[;,]", raw)
    slugs = list(dict.fromkeys(s.strip().lower() for s in parts if s.strip()))
    if not slugs:
        slugs = [DEFAULT_TOPIC_SLUG]  # an empty cell means the newsletter itself
    unknown = [s for s in slugs if s not in ctx.topics]
    if unknown:
        raise SkipRow(f"unknown topic(s): {', '.join(s[:64] for s in unknown)}")
    return [ctx.topics[s] for s in slugs]


def _evidence(cells: dict, column: str) -> str | None:
    """An evidence cell as written (trimmed), or None when empty; SkipRow when unusable."""
    text = cells.get(column, "").strip()
    multiline = column == "consent_text"  # a consent wording may have paragraphs
    allowed = "\n\r\t" if multiline else ""
    if any((ord(ch) < 32 and ch not in allowed) or ord(ch) == 127 for ch in text):
        raise SkipRow(f"{column} contains control characters")
    limit = EVIDENCE_LIMITS.get(column, 500)
    if len(text) > limit:
        raise SkipRow(f"{column} longer than {limit} characters")
    return text or None


def _date(cells: dict, column: str, now: datetime) -> datetime | None:
    raw = cells.get(column, "").strip()
    if not raw:
        return None
    try:
        value = as_utc(datetime.fromisoformat(raw))
    except ValueError:
        raise SkipRow(f"bad date in {column}: {raw[:40]!r} (use YYYY-MM-DD)") from None
    if value > now:
        raise SkipRow(f"{column} is in the future")
    return value


# --- one row: decide ---------------------------------------------------------------------


def decide_row(row: ImportRow, existing: Subscriber | None, ctx: ImportContext) -> None:
    """Set row.outcome (and what to add); raise SkipRow when the row may not go in.

    A consent row changes nothing without complete, current evidence: a new person, or
    a new topic for a known one, is then skipped with the reason (never mailed).
    """
    if ctx.basis == Basis.EXISTING_CUSTOMER:
        _check_customer_row(row, ctx)
        problem = None
    else:
        problem = _consent_problem(row, ctx)
        if problem:
            row.consented_at = None  # not evidence: raises nothing on a known subscriber
    if existing is None:
        if problem:
            raise SkipRow(problem)
        row.add_topics = list(row.topics)
        row.outcome = CUSTOMER if ctx.basis == Basis.EXISTING_CUSTOMER else ACTIVE
        return
    row.add_topics = _topics_to_add(row, existing, ctx)
    if row.add_topics and problem:
        raise SkipRow(problem)
    row.outcome = UPDATED if row.add_topics or _raises_evidence(row, existing, ctx) else UNCHANGED


def _consent_problem(row: ImportRow, ctx: ImportContext) -> str | None:
    """Why this consent row's evidence does not allow it in (None: it does)."""
    evidence = row.evidence
    missing = compliance.missing_consent_evidence(
        row.consented_at,
        evidence["consent_text"],
        evidence["consent_text_ref"],
        evidence["consent_where"],
        evidence["consent_how"],
        evidence["consent_system"],
    )
    if missing:
        return (
            f"no evidence of consent ({', '.join(missing)} missing): not imported and not "
            "mailed; see docs/IMPORTS.md"
        )
    if not compliance.imported_consent_current(row.consented_at, ctx.now, ctx.interval_days):
        return (
            f"consent of {row.consented_at.date().isoformat()} is older than the re-consent "
            f"interval ({ctx.interval_days} days): not imported and not mailed"
        )
    return None


def _check_customer_row(row: ImportRow, ctx: ImportContext) -> None:
    """SkipRow unless the row proves a current purchase, an opt-out offered at collection,
    and asks only for own-similar-products topics."""
    if row.purchased_at is None:
        raise SkipRow("existing-customer rows need purchased_at (evidence of a purchase)")
    if not compliance.imported_purchase_current(row.purchased_at, ctx.now, ctx.basis_days):
        raise SkipRow(
            f"purchase of {row.purchased_at.date().isoformat()} is older than "
            f"CUSTOMER_BASIS_DAYS ({ctx.basis_days} days): no longer an existing customer"
        )
    if not compliance.customer_optout_offered_at_collection(row.evidence["optout_offered"]):
        raise SkipRow(
            "optout_offered is empty: say how the customer was offered to refuse marketing "
            "mail when the address was collected (ePrivacy 13(2))"
        )
    refused = [
        t.slug
        for t in row.topics
        if not compliance.basis_allowed_for_topic(Basis.EXISTING_CUSTOMER, t)
    ]
    if refused:
        raise SkipRow(
            f"topic(s) {', '.join(refused)} not marked own-similar-products: existing "
            "customers may only get those without consent"
        )


def _topics_to_add(row: ImportRow, subscriber: Subscriber, ctx: ImportContext) -> list[Topic]:
    """Topics the row adds: new ones, or held ones it raises (customer -> consent)."""
    held = {s.topic_id: s for s in subscriber.subscriptions}
    added = []
    for topic in row.topics:
        current = held.get(topic.id)
        if current is None:
            added.append(topic)
        elif (
            ctx.basis == Basis.CONSENT
            and row.consented_at
            and (current.confirmed_at is None or current.basis != Basis.CONSENT)
        ):
            added.append(topic)  # evidence raises an unconfirmed or soft-opt-in topic
    return added


def _raises_evidence(row: ImportRow, subscriber: Subscriber, ctx: ImportContext) -> bool:
    if ctx.basis == Basis.EXISTING_CUSTOMER:
        return subscriber.purchased_at is None or row.purchased_at > subscriber.purchased_at
    return row.consented_at is not None and (
        subscriber.consented_at is None or row.consented_at > subscriber.consented_at
    )
