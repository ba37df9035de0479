"""Outgoing webhooks: endpoints, signed deliveries, retries with backoff, the log.

Events are queued by `events.emit` in the transaction of the change they report; the
`webhook-deliveries` job (newsletter/jobs.py, also `flask jobs run-due`) posts them
after the commit. Each request carries

    X-Newsletter-Event: subscriber.confirmed
    X-Newsletter-Delivery: evt_...            (the event id, the same for every retry)
    X-Newsletter-Timestamp: 1764640000        (Unix seconds of this attempt)
    X-Newsletter-Signature: sha256=<hex>      HMAC-SHA256(secret, timestamp + "." + body)

A 2xx answer is success; anything else (another status, a redirect, a timeout, a
refused connection) is retried after 1, 2, 4, 8 ... minutes (at most 12 hours apart),
MAX_ATTEMPTS times in all, then marked failed. The log keeps the status code, the
attempts, the next try and a short error, never the receiver's answer. docs/API.md
describes it for the receiver's side.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import delete, select, update

from . import events
from .extensions import db
from .links import is_loopback_url
from .models import WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
MAX_ATTEMPTS = 12
FIRST_DELAY = timedelta(minutes=1)
LONGEST_DELAY = timedelta(hours=12)
LEASE = timedelta(minutes=5)  # a claimed delivery is tried again after this if we die
BATCH = 50
_SECRET_PREFIX = "whsec_"
AUDIT_ADD = "webhook.add"  # audit-log actions
AUDIT_REMOVE = "webhook.remove"


class WebhookError(ValueError):
    """An endpoint cannot be added or removed as asked; the message says why."""


# --- endpoints ---------------------------------------------------------------------------


def check_url(url: str) -> str:
    """The URL, if it may receive events: https, or http on this machine (tests, a local
    relay). Raises WebhookError naming what is wrong."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"{url!r} is not a web address (https://...).")
    if parts.scheme == "http" and not is_loopback_url(url):
        raise WebhookError(
            "Webhooks are sent over https only (plain http only to this machine: "
            "127.0.0.1, localhost, [::1])."
        )
    if parts.username or parts.password:
        raise WebhookError("Put no user name or password in the URL; the signature authenticates.")
    if len(url) > 2000:
        raise WebhookError("The URL is longer than 2000 characters.")
    return url


def check_events(kinds) -> list[str]:
    kinds = sorted(set(kinds or []))
    unknown = [k for k in kinds if k not in events.KINDS]
    if unknown or not kinds:
        raise WebhookError(
            f"Choose events among {', '.join(events.KINDS)} (got {', '.join(unknown) or 'none'})."
        )
    return kinds


def add_endpoint(url: str, kinds) -> tuple[WebhookEndpoint, str]:
    """A new endpoint; returns it and its signing secret (shown to the admin once)."""
    row = WebhookEndpoint(url=check_url(url), events=check_events(kinds))
    secret = _SECRET_PREFIX + secrets.token_urlsafe(32)
    row.secret = secret
    db.session.add(row)
    db.session.flush()
    return row, secret


def remove_endpoint(endpoint_id: int) -> WebhookEndpoint:
    """Delete an endpoint and its log; raises WebhookError when there is none."""
    row = db.session.get(WebhookEndpoint, endpoint_id)
    if row is None:
        raise WebhookError(f"No webhook {endpoint_id}.")
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == row.id))
    db.session.delete(row)
    db.session.flush()
    return row


def list_endpoints() -> list[WebhookEndpoint]:
    return list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def recent_deliveries(limit: int = 100) -> list[WebhookDelivery]:
    """The delivery log, newest first."""
    return list(
        db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit))
    )


# --- signing -----------------------------------------------------------------------------


def body_of(delivery: WebhookDelivery) -> bytes:
    """The request body: the event as compact JSON (the same bytes on every retry)."""
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=` + hex HMAC-SHA256 of `timestamp.body` under the endpoint's secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def delay_after(attempts: int) -> timedelta:
    """Exponential backoff: 1 minute after the first failure, doubling, at most 12 h."""
    return min(FIRST_DELAY * (2 ** max(attempts - 1, 0)), LONGEST_DELAY)


# --- sending (the job) -------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer that is not 2xx: retried, never followed


_OPENER = urllib.request.build_opener(_NoRedirects)


def _post(url: str, headers: dict, body: bytes, timeout: float) -> tuple[int | None, str | None]:
    """POST; returns (status code, error) — error None for a 2xx."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            code = response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"{type(exc).__name__}: {reason}"[:300]
    if 200 <= code < 300:
        return code, None
    return code, f"HTTP {code}"


def _claim(delivery_id: int, now: datetime) -> bool:
    """Take one due delivery for this run (another worker's run then skips it)."""
    result = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == PENDING,
            WebhookDelivery.next_attempt_at <= now,
        )
        .values(next_attempt_at=now + LEASE)
    )
    db.session.commit()
    return result.rowcount == 1


def attempt(delivery: WebhookDelivery, now: datetime) -> bool:
    """Post one delivery now and record the outcome (flushed); True when delivered."""
    endpoint = delivery.endpoint
    body = body_of(delivery)
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "newsletter-webhooks/1",
        "X-Newsletter-Event": delivery.kind,
        "X-Newsletter-Delivery": delivery.event_id,
        "X-Newsletter-Timestamp": str(timestamp),
        "X-Newsletter-Signature": signature(endpoint.secret, timestamp, body),
    }
    timeout = float(current_app.config.get("WEBHOOK_TIMEOUT_SECONDS") or 10)
    code, error = _post(endpoint.url, headers, body, timeout)
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = code
    delivery.last_error = error
    if error is None:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DELIVERED, now, None
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = FAILED, None
    else:
        delivery.next_attempt_at = now + delay_after(delivery.attempts)
    db.session.flush()
    return error is None


def deliver_due(now: datetime) -> int:
    """Post every delivery whose time has come; returns how many were tried.

    Each is claimed and committed before its request, and its outcome committed after,
    so a slow receiver holds no transaction open and a crash loses nothing (the lease
    runs out and the delivery is tried again)."""
    tried = 0
    while True:
        due = db.session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.id)
            .limit(BATCH)
        ).all()
        for delivery_id in due:
            if not _claim(delivery_id, now):
                continue
            delivery = db.session.get(WebhookDelivery, delivery_id)
            attempt(delivery, now)
            db.session.commit()
            tried += 1
            log.info(
                "webhook %s attempt %s: %s",
                delivery.kind,
                delivery.attempts,
                delivery.last_error or delivery.last_status_code,
            )
        if len(due) < BATCH:
            return tried


def purge_log(now: datetime, config) -> int:
    """Delete delivered and failed deliveries older than WEBHOOK_LOG_RETENTION_DAYS."""
    cutoff = now - timedelta(days=int(config["WEBHOOK_LOG_RETENTION_DAYS"]))
    result = db.session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.status != PENDING, WebhookDelivery.created_at < cutoff
        )
    )
    db.session.flush()
    return result.rowcount
