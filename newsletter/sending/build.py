"""Building a batch's messages: prepare each campaign once per (version, footer
language), build, check (rule 4), sign; what cannot be built is recorded as failed, alone.

A recipient's footer language decides their version too (theirs, else the default
language's: `campaign_versions.version_for`), so one prepared campaign per footer
language of the batch is one per (version, footer language): at most a few per batch,
whatever its size, and no Markdown is rendered per message (docs/PERFORMANCE.md)."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from .. import compliance, messages
from ..extensions import db
from ..models import Campaign, CampaignStatus, DeliveryStatus
from .batch import Batch

log = logging.getLogger(__name__)


def prepared_for(batch: Batch, campaign_id: int, locale: str) -> messages.PreparedCampaign:
    """The campaign prepared for one footer language (from the version recipients in that
    language get), once per batch run; raises `_Unbuildable` (again for each of its
    messages) when it cannot be prepared."""
    key = (campaign_id, locale)
    if key not in batch.prepared:
        campaign = db.session.get(Campaign, campaign_id)
        try:
            batch.prepared[key] = messages.prepare(campaign, locale=locale)
        except SQLAlchemyError:
            raise  # the database, not the message: the batch's own handling applies
        except Exception as exc:
            log.exception("campaign %s cannot be prepared in %r", campaign_id, locale)
            batch.prepared[key] = _Unbuildable(_failure_text(exc))
    prepared = batch.prepared[key]
    if isinstance(prepared, _Unbuildable):
        raise prepared
    return prepared


def checks_for(batch: Batch, prepared: messages.PreparedCampaign):
    """The rule-4 check of one prepared campaign's messages, made with it."""
    key = (prepared.campaign_id, prepared.locale)
    check = batch.checks.get(key)
    if check is None:
        skeletons = (prepared.head, prepared.text, prepared.html)
        check = batch.checks[key] = compliance.PreparedMessagesCheck(skeletons)
    return check


class _Unbuildable(Exception):
    """A message (or a whole footer language of a campaign) that cannot be built; the
    text is the reason recorded on the delivery, after "refused: "."""


def _failure_text(exc: Exception) -> str:
    """The reason an unexpected exception gives: what happened, and what to do."""
    detail = f"{type(exc).__name__}: {exc}"[:300]
    return f"the message could not be built ({detail}); see the worker's log"


def build_batch(batch: Batch, deliveries, recipients) -> list[tuple]:
    """(delivery, recipient, message) for each message of the batch that may go out,
    built and checked (rule 4), then DKIM-signed; what may not go out is recorded here.

    The signatures are made in one loop after all the building: OpenSSL's big-number
    work and the Python of building then each keep their own data in the CPU's caches
    (alternating the two cost about a third more CPU a message with DKIM).
    """
    built = []
    for delivery in deliveries:
        recipient = recipients.get((delivery.subscriber_id, delivery.topic_id))
        if delivery.campaign_status != CampaignStatus.SENDING:
            batch.record(delivery, DeliveryStatus.SKIPPED, "campaign cancelled", tried=False)
        elif recipient is None:
            batch.record(delivery, DeliveryStatus.SKIPPED, "no lawful basis any more", False)
        elif (raw := build(batch, delivery, recipient, sign=False)) is not None:
            built.append((delivery, recipient, raw))
    signed = []
    for delivery, recipient, raw in built:
        try:
            prepared = prepared_for(batch, delivery.campaign_id, recipient.locale)
            signed.append((delivery, recipient, prepared.sign(raw)))
        except SQLAlchemyError:
            raise
        except Exception as exc:  # one message's failure is its own, never the batch's
            _record_unbuildable(batch, delivery, exc)
    return signed


def _record_unbuildable(batch: Batch, delivery, exc: Exception) -> None:
    """A message the app could not make: `failed`, "refused: " and the reason (the
    prefix of every refusal by the app itself, docs/SENDING.md "Failures")."""
    if not isinstance(exc, _Unbuildable | messages.MessageError):
        log.exception("delivery %s: the message could not be built", delivery.id)
        exc = _Unbuildable(_failure_text(exc))
    batch.record(delivery, DeliveryStatus.FAILED, f"refused: {exc}")


def build(batch: Batch, delivery, recipient: messages.Recipient, sign=True) -> bytes | None:
    """One message's bytes after the rule-4 check; None when refused (recorded).

    Every message is checked (`compliance.PreparedMessagesCheck`: the whole check on the
    first message of each prepared campaign, then each message as that checked skeleton
    with its own values). The check runs before the DKIM signature is added: the
    signature is one header that rule 4 does not look at.
    """
    try:
        prepared = prepared_for(batch, delivery.campaign_id, recipient.locale)
        built = prepared.compose(recipient, unique=f"c{delivery.campaign_id}.d{delivery.id}")
        problems = checks_for(batch, prepared).check(built)
        if problems:
            batch.record(delivery, DeliveryStatus.FAILED, "refused: " + "; ".join(problems))
            return None
        return prepared.sign(built.raw) if sign else built.raw
    except SQLAlchemyError:
        raise  # the database, not the message: the batch's own handling applies
    except Exception as exc:  # e.g. a locale Babel cannot load: this message fails alone
        _record_unbuildable(batch, delivery, exc)
        return None
