"""The sending engine: claim deliveries, build, check, hand to SMTP, retry.

Claim/lease protocol (docs/SENDING.md): a worker claims a batch of deliveries in one
committed UPDATE (status `sending`, `claimed_by`, `claimed_until`); on PostgreSQL the
rows are picked with `FOR UPDATE SKIP LOCKED`, so several workers never claim the same
row; on SQLite the single UPDATE ... WHERE id IN (SELECT ... LIMIT n) runs under the
database's one write lock. Results are written back per batch. A worker killed at any
moment leaves its batch `sending` with a lease that runs out; the batch is then claimed
again, so nothing is lost and at most that batch is sent twice.
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import re
import secrets
import smtplib
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import and_, bindparam, null, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from . import bounces, campaigns, compliance, dbapi, i18n, mailer, messages
from .addresses import address_hash
from .clock import utcnow
from .extensions import db
from .models import (
    Basis,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Subscriber,
    Subscription,
    Topic,
)

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100
MAX_ATTEMPTS = 6  # then a deferred message counts as failed
RETRY_BASE = timedelta(minutes=5)  # 5, 10, 20, 40, 80 minutes between attempts
IDLE_POLL_SECONDS = 1.0
DB_WRITE_TRIES = 5  # a lost database connection: results are written again, after
DB_RETRY_SECONDS = 0.5  # 0.5, 1, 1.5, 2 s (docs/RELIABILITY.md)


def new_worker_id() -> str:
    """A worker's name in `claimed_by`: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"[:100]


# --- claiming ----------------------------------------------------------------------------


def _claimable_kinds(now: datetime, status=Delivery.status):
    """What may be claimed, as three conditions that each match one range of the claim
    index (status, next_attempt_at). One OR of the three made SQLite collect and sort
    every queued row for each claim: quadratic on a large campaign."""
    return (
        # A lease that ran out: its worker died or hung; the batch is up for grabs.
        and_(status == DeliveryStatus.SENDING, Delivery.claimed_until < now),
        and_(status == DeliveryStatus.DEFERRED, Delivery.next_attempt_at <= now),
        status == DeliveryStatus.QUEUED,
    )


def claim_batch(
    worker_id: str, size: int, lease: timedelta, campaign_id: int | None = None
) -> list[int]:
    """Claim up to `size` deliveries of sending campaigns for this worker; committed.

    No ORDER BY: each kind is read along the claim index, which stops after `size`
    rows (queued rows come out in id order all the same, as their next_attempt_at is
    empty). PostgreSQL skips rows other workers have locked.
    """
    postgres = db.engine.dialect.name == "postgresql"
    if not postgres:
        # SQLite: take the write lock first, so that two workers never read the same
        # ids (the loser would claim nothing and take the queue for empty).
        db.session.commit()
        db.session.connection().exec_driver_sql("BEGIN IMMEDIATE")
    now = utcnow()
    sending_campaigns = select(Campaign.id).where(Campaign.status == CampaignStatus.SENDING)
    claimed: list[int] = []
    # The re-check in the UPDATE must not pick the status index over the ids (SQLite
    # then walks every queued row): `status || ''` hides the column from the planner.
    rechecks = _claimable_kinds(now, Delivery.status if postgres else Delivery.status.concat(""))
    for kind, recheck in zip(_claimable_kinds(now), rechecks, strict=True):
        if len(claimed) >= size:
            break
        pick = (
            select(Delivery.id)
            .where(kind, Delivery.campaign_id.in_(sending_campaigns))
            .limit(size - len(claimed))
        )
        if campaign_id is not None:
            pick = pick.where(Delivery.campaign_id == campaign_id)
        if postgres:
            # A materialised CTE: as a plain subquery PostgreSQL may run it again for
            # each row and, skipping the rows this very UPDATE changed, claim past LIMIT.
            locked = pick.with_for_update(skip_locked=True, of=Delivery)
            pick = select(locked.cte("picked").prefix_with("MATERIALIZED").c.id)
        else:
            # SQLite: ids first, so that the UPDATE goes by rowid (under the write lock
            # taken above; the re-check is for the lease-expiry kind's sake).
            pick = db.session.scalars(pick).all()
            if not pick:
                continue
        claimed += db.session.scalars(
            update(Delivery)
            .where(Delivery.id.in_(pick), recheck)
            .values(status=DeliveryStatus.SENDING, claimed_by=worker_id, claimed_until=now + lease)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        ).all()
    db.session.commit()
    return sorted(claimed)


def release_expired_leases(now: datetime) -> int:
    """Put deliveries whose worker's lease ran out back in the queue (job)."""
    result = db.session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_until < now)
        .values(status=DeliveryStatus.QUEUED, claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def requeue_due_deferred(now: datetime) -> int:
    """Deferred deliveries whose retry time has come go back to the queue (job)."""
    result = db.session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.DEFERRED, Delivery.next_attempt_at <= now)
        .values(status=DeliveryStatus.QUEUED)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


# --- transports --------------------------------------------------------------------------


# What a transport returns: each message's outcome once known, as (tag, None) when the
# server accepted it or (tag, the exception `smtplib.sendmail` would have raised).
Outcome = tuple[object, Exception | None]

# Messages written to the server and not yet answered, at most, with BDAT (below).
SMTP_WINDOW = 16

# Linux: acknowledge at once what the server sends while we wait for its replies (see
# `_ReplyReader.wait`). None elsewhere, or to measure without it.
QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class OutboxTransport:
    """No SMTP server: messages are kept in the outbox, committed one by one."""

    flush_every = 1

    def send(self, sender: str, recipient: str, subject: str, raw: bytes, tag) -> list[Outcome]:
        mailer.store_in_outbox(sender, recipient, subject, raw)
        return [(tag, None)]

    def flush(self) -> list[Outcome]:
        return []

    def close(self) -> None:
        pass


class SmtpTransport:
    """One persistent SMTP connection (Flask-Mail's MAIL_* settings), reopened when lost.

    When the server offers PIPELINING (RFC 2920) MAIL, RCPT and DATA go out in one
    write: two round trips a message instead of four. When it also offers CHUNKING
    (RFC 3030; Postfix since 3.4, Exim, Exchange) each message goes as MAIL, RCPT and
    one `BDAT <size> LAST` chunk in one write, with no dot-stuffing, through a sliding
    window: after each write the replies that have arrived are read without waiting,
    and the sender waits only when SMTP_WINDOW messages are unanswered, and then for
    the oldest one. It never waits a round trip per message (on a network with 20 ms
    of latency, that wait alone would cap a connection at 50 messages a second), nor
    for a whole window to drain (against Postfix that cost a delayed ACK, about 40 ms,
    per window). Each message's recipient is still re-checked right before its own
    bytes are written (by the caller, `_deliver_one`).

    `send` returns the outcomes known so far (with a window, those of earlier
    messages); `flush` waits for the rest. A lost connection leaves the unanswered
    messages without a reply: they count as not delivered (deferred).
    """

    def __init__(self, config):
        self.config = config
        self.flush_every = 0  # results are written per batch
        self.connection: smtplib.SMTP | None = None
        self.pipelining = False
        self.chunking = False
        self.reader: _ReplyReader | None = None
        self.in_flight: collections.deque = collections.deque()  # (tag, sender, recipient)

    def _connect(self) -> smtplib.SMTP:
        connection = mailer.connect_smtp(self.config)
        # Commands are small writes each waiting for a reply: do not let Nagle hold them.
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.ehlo_or_helo_if_needed()
        self.pipelining = connection.has_extn("pipelining")
        self.chunking = self.pipelining and connection.has_extn("chunking")
        # smtplib has read nothing past the EHLO reply: from here on, with BDAT, the
        # replies are read from the socket by the window's own reader.
        self.reader = _ReplyReader(connection.sock) if self.chunking else None
        return connection

    def send(self, sender: str, recipient: str, subject: str, raw: bytes, tag) -> list[Outcome]:
        try:
            if self.connection is None:
                self.connection = self._connect()
            if self.chunking:
                return self._send_chunk(sender, recipient, raw, tag)
            if self.pipelining:
                _send_pipelined(self.connection, sender, recipient, raw)
            else:
                self.connection.sendmail(sender, [recipient], raw)
        except (smtplib.SMTPException, OSError) as exc:
            self._close_if_broken(exc)
            return [(tag, exc)]
        return [(tag, None)]

    def flush(self) -> list[Outcome]:
        """Wait for the outcome of every message written and not yet answered."""
        if not self.in_flight:
            return []
        self.reader.wait(3 * len(self.in_flight))
        return self._answered()

    def _send_chunk(self, sender: str, recipient: str, raw: bytes, tag) -> list[Outcome]:
        envelope = f"MAIL FROM:<{sender}>\r\nRCPT TO:<{recipient}>\r\nBDAT {len(raw)} LAST\r\n"
        reader = self.reader
        try:
            reader.sock.sendall(envelope.encode("ascii") + raw)
        except OSError as exc:
            # The replies to earlier messages may have arrived all the same: keep them.
            reader.poll()
            reader.closed = True
            return [*self._answered(), (tag, exc)]
        self.in_flight.append((tag, sender, recipient))
        reader.poll()
        if len(self.in_flight) >= SMTP_WINDOW:
            reader.wait(3)  # the oldest message's three replies
        return self._answered()

    def _answered(self) -> list[Outcome]:
        """The outcomes of the messages whose three replies (MAIL, RCPT, BDAT) have
        arrived, oldest first. When the connection is gone (or the server said 421, it
        is closing), the unanswered rest count as not delivered (deferred)."""
        outcomes: list[Outcome] = []
        replies, in_flight = self.reader.replies, self.in_flight
        closing = False  # a 421: the server is closing the connection
        while in_flight and len(replies) >= 3 and not closing:
            tag, sender, recipient = in_flight.popleft()
            try:
                _chunk_replies((replies.popleft(), replies.popleft(), replies.popleft()),
                               sender, recipient)  # fmt: skip
            except smtplib.SMTPException as exc:
                outcomes.append((tag, exc))
                closing = smtp_code(exc) == 421
            else:
                outcomes.append((tag, None))
        if closing or self.reader.closed:
            lost = self.reader.error or smtplib.SMTPServerDisconnected(
                "connection lost before the server replied"
            )
            outcomes += [(tag, lost) for tag, _, _ in in_flight]
            in_flight.clear()
            self.close()
        return outcomes

    def _close_if_broken(self, exc: Exception) -> None:
        # smtplib closes the socket itself on 421; a drop leaves it dead: reconnect.
        code = getattr(exc, "smtp_code", None)
        if getattr(self.connection, "sock", None) is None or code == 421:
            self.close()
        elif not isinstance(exc, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
            self.close()

    def close(self) -> None:
        connection, self.connection = self.connection, None
        reader, self.reader = self.reader, None
        if connection is None:
            return
        if reader is not None and (reader.closed or self.in_flight):
            connection.close()  # nothing to say QUIT to, or replies still owed
            return
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()


class _ReplyReader:
    """SMTP replies read from the socket, without waiting when asked (`poll`).

    smtplib's `getreply` can only wait; the sliding window needs "whatever has arrived"
    after each write. Replies are parsed as smtplib parses them (`250-...` lines, then
    `250 ...`) into (code, text) with the lines joined by newlines, in order.
    """

    def __init__(self, sock):
        import select  # here, not at the top: only the BDAT window reads this way
        import ssl

        self.sock = sock
        self.tls = isinstance(sock, ssl.SSLSocket)
        self.would_block = (BlockingIOError, ssl.SSLWantReadError)
        # A socket with a timeout (MAIL_TIMEOUT) waits out the timeout on "would
        # block", MSG_DONTWAIT or not: ask poll(2) first whether anything has arrived.
        self.poller = select.poll()
        self.poller.register(sock, select.POLLIN)
        self.buffer = bytearray()
        self.lines: list[bytes] = []  # the lines so far of a reply not yet complete
        self.replies: collections.deque = collections.deque()
        self.closed = False  # the server closed the connection, or it failed
        self.error: Exception | None = None

    def poll(self) -> None:
        """Take the replies that have arrived, never waiting."""
        while not self.closed:
            try:
                if self.tls:  # TLS may hold a record poll(2) cannot see; or half of one
                    timeout = self.sock.gettimeout()
                    self.sock.settimeout(0)
                    try:
                        data = self.sock.recv(65536)
                    finally:
                        self.sock.settimeout(timeout)
                elif self.poller.poll(0):
                    data = self.sock.recv(65536)
                else:
                    return
            except self.would_block:
                return
            except OSError as exc:
                self._lost(exc)
                return
            if not data:
                self._lost(None)
                return
            self._parse(data)

    def wait(self, count: int) -> None:
        """Wait (up to MAIL_TIMEOUT each read) until `count` replies are here, or the
        connection is gone.

        TCP_QUICKACK before each wait: the server writes its replies in small segments
        and, with Nagle's algorithm on its side, holds the next one until the previous
        is acknowledged; our acknowledgement, with nothing of ours to carry it while we
        wait, would be delayed (40 ms on Linux). Measured against Postfix 3.7 on
        loopback: the reply to the last message of a window came 42-48 ms late without
        it, 1.3-1.7 ms with it.
        """
        while len(self.replies) < count and not self.closed:
            try:
                if QUICKACK is not None:
                    self.sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
                data = self.sock.recv(65536)
            except OSError as exc:  # a timeout too (MAIL_TIMEOUT)
                self._lost(exc)
                return
            if not data:
                self._lost(None)
                return
            self._parse(data)

    def _lost(self, exc: OSError | None) -> None:
        self.closed = True
        reason = f"connection lost before the server replied: {exc or 'closed'}"
        self.error = smtplib.SMTPServerDisconnected(reason)

    def _parse(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line = bytes(buffer[start : end + 1])
            start = end + 1
            self.lines.append(line[4:].strip(b" \t\r\n"))
            if line[3:4] != b"-":
                try:
                    code = int(line[:3])
                except ValueError:
                    code = -1
                self.replies.append((code, b"\n".join(self.lines)))
                self.lines = []
        del buffer[:start]


_LEADING_DOT = re.compile(rb"(?m)^\.")


def _send_pipelined(connection: smtplib.SMTP, sender: str, recipient: str, raw: bytes) -> None:
    """`sendmail` for one recipient with MAIL, RCPT and DATA pipelined (RFC 2920).

    Raises what `sendmail` raises for the same replies (SMTPSenderRefused,
    SMTPRecipientsRefused, SMTPDataError), after resetting the session.
    """
    connection.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n")
    mail, rcpt, data = connection.getreply(), connection.getreply(), connection.getreply()
    accepted = mail[0] == 250 and rcpt[0] in (250, 251)
    if data[0] == 354 and not accepted:
        connection.send(b".\r\n")  # the server wants a message all the same: an empty one
        connection.getreply()
    if mail[0] != 250:
        _reset(connection)
        raise smtplib.SMTPSenderRefused(mail[0], mail[1], sender)
    if rcpt[0] not in (250, 251):
        _reset(connection)
        raise smtplib.SMTPRecipientsRefused({recipient: rcpt})
    if data[0] != 354:
        _reset(connection)
        raise smtplib.SMTPDataError(*data)
    # Dot-stuffing, as smtplib does (base64 lines never start with a dot: seldom needed).
    body = _LEADING_DOT.sub(b"..", raw) if raw.startswith(b".") or b"\n." in raw else raw
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    connection.send(body + b".\r\n")
    code, text = connection.getreply()
    if code != 250:
        _reset(connection)
        raise smtplib.SMTPDataError(code, text)


def _chunk_replies(replies, sender: str, recipient: str) -> None:
    """Judge the replies to MAIL, RCPT and `BDAT <size> LAST` (RFC 3030) of one message:
    raise what `sendmail` raises for them. A refused MAIL or RCPT makes the server refuse
    the chunk too, which ends the transaction: no RSET (it would be answered in the
    middle of the next messages' replies)."""
    mail, rcpt, chunk = replies
    if mail[0] != 250:
        raise smtplib.SMTPSenderRefused(mail[0], mail[1], sender)
    if rcpt[0] not in (250, 251):
        raise smtplib.SMTPRecipientsRefused({recipient: rcpt})
    if chunk[0] != 250:
        raise smtplib.SMTPDataError(*chunk)


def _reset(connection: smtplib.SMTP) -> None:
    try:
        connection.rset()
    except (smtplib.SMTPException, OSError):
        pass  # the connection is gone: the caller closes it


def make_transport():
    """SMTP when MAIL_SERVER is set, the built-in outbox otherwise."""
    if mailer.uses_outbox():
        return OutboxTransport()
    return SmtpTransport(current_app.config)


def smtp_code(exc: Exception) -> int | None:
    """The SMTP reply code behind an exception; None for a lost connection."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return next(iter(exc.recipients.values()))[0] if exc.recipients else None
    return getattr(exc, "smtp_code", None)


# --- one batch ---------------------------------------------------------------------------


@dataclass
class _Pacer:
    """NEWSLETTER_SEND_RATE: at most `rate` messages a second (0: no limit)."""

    rate: float
    stop_event: threading.Event | None = None
    next_at: float = field(default_factory=time.monotonic)

    def wait(self) -> None:
        if self.rate <= 0:
            return
        delay = self.next_at - time.monotonic()
        if delay > 0:
            if self.stop_event is not None:
                self.stop_event.wait(delay)
            else:
                time.sleep(delay)
        self.next_at = max(self.next_at, time.monotonic() - 1.0 / self.rate) + 1.0 / self.rate


# What a message needs of its recipient, and what rules 1 and 3 look at.
_RECIPIENT_COLUMNS = (
    Subscriber.email,
    Subscriber.name,
    Subscriber.public_id,
    Subscriber.locale,
    Subscriber.status,
    Subscriber.purchased_at,
    Subscription.topic_id,
    Subscription.basis,
    Subscription.confirmed_at,
    Topic.own_similar_products,
)


def _recipients(deliveries) -> dict[tuple[int, int], messages.Recipient]:
    """The deliveries' recipients who may get the message now (rules 1 and 3), in bulk.

    One query for a whole batch, keyed by (subscriber id, topic id); whoever may not get
    the message is missing. The per-message re-check is `_still_lawful`.
    """
    ids = {d.subscriber_id for d in deliveries if d.subscriber_id is not None}
    if not ids:
        return {}  # all erased (opted out) since the send started
    query = (
        select(Subscriber.id, *_RECIPIENT_COLUMNS)
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .join(Topic, Topic.id == Subscription.topic_id)
        .where(Subscriber.id.in_(ids))
    )
    lawful = [row for row in db.session.execute(query) if _may_send(row)]
    hashes = {row.id: address_hash(row.email) for row in lawful}
    objected = compliance.objected_hashes(set(hashes.values()))
    return {
        (row.id, row.topic_id): _recipient(row) for row in lawful if hashes[row.id] not in objected
    }


class _Facts:
    """What rule 1 reads of a subscriber, a subscription and its topic, from one row
    (`compliance.may_send_marketing` takes it for all three; no ORM objects needed)."""

    __slots__ = ("status", "purchased_at", "basis", "confirmed_at", "own_similar_products")

    def __init__(self, row):
        self.status, self.purchased_at = row.status, row.purchased_at
        self.basis, self.confirmed_at = row.basis, row.confirmed_at
        self.own_similar_products = row.own_similar_products

    @property
    def topic(self):
        return self


def _may_send(row) -> bool:
    facts = _Facts(row)
    return compliance.may_send_marketing(facts, facts)


def _recipient(row) -> messages.Recipient:
    since = row.purchased_at if row.basis == Basis.EXISTING_CUSTOMER else row.confirmed_at
    # A locale stored before issue 12's migration (e.g. "nl-BE") is read as its language.
    locale = i18n.normalize_locale(row.locale) or i18n.DEFAULT
    return messages.Recipient(row.email, row.name, row.public_id, row.basis, since, locale)


@dataclass
class _Batch:
    """The work of one claimed batch and its results, written back together."""

    transport: object
    pacer: _Pacer
    prepared: dict[tuple[int, str], messages.PreparedCampaign]
    worker_id: str = ""
    lease: timedelta = timedelta(minutes=5)
    lease_until: datetime | None = None
    results: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def keep_lease(self, deliveries: list, position: int) -> None:
        """Extend the claim on the untried rest of the batch when half the lease is gone.

        A slow SMTP server must not let the lease run out under a live worker (another
        worker would then send the same messages).
        """
        now = utcnow()
        if self.lease_until is None or self.lease_until - now > self.lease / 2:
            return
        self.write()  # results so far first: the commit below must not lose them
        self.lease_until = now + self.lease
        untried = [d.id for d in deliveries[position:]]
        db.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(untried), Delivery.claimed_by == self.worker_id)
            .values(claimed_until=self.lease_until)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()

    def record(self, delivery, status: str, error: str | None = None, tried: bool = True):
        now = utcnow()
        attempts = delivery.attempts + (1 if tried else 0)
        next_attempt = None
        if status == DeliveryStatus.DEFERRED:
            if attempts >= MAX_ATTEMPTS:
                status, error = DeliveryStatus.FAILED, f"gave up after {attempts} attempts: {error}"
            else:
                next_attempt = now + RETRY_BASE * (2 ** (attempts - 1))
        self.results.append(
            {
                "delivery_id": delivery.id,
                "status": status,
                "attempts": attempts,
                "next_attempt_at": next_attempt,
                "sent_at": now if status == DeliveryStatus.SENT else None,
                "last_error": error[:500] if error else None,
            }
        )
        self.counts[status] = self.counts.get(status, 0) + 1
        if self.transport.flush_every and len(self.results) >= self.transport.flush_every:
            self.write()

    def settle(self, outcomes) -> None:
        """Record what the SMTP server answered: 250, a refusal, or no answer at all."""
        for delivery, exc in outcomes:
            if exc is None:
                self.record(delivery, DeliveryStatus.SENT)
                continue
            code = smtp_code(exc)
            status = DeliveryStatus.FAILED if code and code >= 500 else DeliveryStatus.DEFERRED
            if code:  # the reply, without the recipient's address (compliance.redact_address)
                reason = f"{code} {_smtp_text(exc, _recipient_address(delivery))}"
            else:
                reason = f"connection: {type(exc).__name__}"
            if status == DeliveryStatus.FAILED:  # a hard bounce at once: counts to suppression
                bounces.record_rejection(delivery.id, delivery.attempts, reason)
            self.record(delivery, status, reason)

    def write(self, tries: int = 1) -> None:
        """Write the results so far and commit (the batched status update).

        With `tries` > 1 a lost database connection is tried again after a short wait:
        these results are what keeps the messages already sent from being sent again.
        """
        for attempt in range(1, tries + 1):
            try:
                dbapi.prepared(_result_statement, _RESULT_SAMPLE).execute_many(self.results)
                db.session.commit()
            except OperationalError:
                db.session.rollback()
                if attempt == tries:
                    raise
                time.sleep(DB_RETRY_SECONDS * attempt)
            else:
                self.results = []
                return


_RESULT_COLUMNS = ("status", "attempts", "next_attempt_at", "sent_at", "last_error")
_RESULT_SAMPLE = dict.fromkeys(("delivery_id", *_RESULT_COLUMNS))


@functools.cache
def _result_statement():
    """The batched status update: one delivery's outcome, by id (`_Batch.record`)."""
    table = Delivery.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("delivery_id"))
        .values({name: bindparam(name) for name in _RESULT_COLUMNS})
        .values(claimed_by=null(), claimed_until=null())
    )


def _prepared_for(batch: _Batch, campaign_id: int, locale: str) -> messages.PreparedCampaign:
    """The campaign prepared for one footer language, once per batch run; raises
    `_Unbuildable` (again for each of its messages) when it cannot be prepared."""
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


class _Unbuildable(Exception):
    """A message (or a whole footer language of a campaign) that cannot be built; the
    text is the reason recorded on the delivery, after "refused: "."""


def _failure_text(exc: Exception) -> str:
    """The reason an unexpected exception gives: what happened, and what to do."""
    detail = f"{type(exc).__name__}: {exc}"[:300]
    return f"the message could not be built ({detail}); see the worker's log"


_FRESH_SAMPLE = {"subscriber_id": 0, "topic_id": 0, "address_hash": ""}


@functools.cache
def _fresh_statement():
    """The per-message re-check, built once (SQLAlchemy then reuses its compiled form)."""
    return (
        select(
            *_RECIPIENT_COLUMNS,
            compliance.objection_exists(bindparam("address_hash")).label("objected"),
        )
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .join(Topic, Topic.id == Subscription.topic_id)
        .where(
            Subscriber.id == bindparam("subscriber_id"),
            Subscription.topic_id == bindparam("topic_id"),
        )
    )


def _still_lawful(delivery, recipient: messages.Recipient) -> messages.Recipient | None:
    """Rules 1 and 3 again, right before the hand-off, in one indexed query.

    Returns the recipient as the database has it now (it may differ from the one the
    message was built for), or None: opted out, objected, or no lawful basis any more.
    """
    row = dbapi.prepared(_fresh_statement, _FRESH_SAMPLE).first(
        {
            "subscriber_id": delivery.subscriber_id,
            "topic_id": delivery.topic_id,
            "address_hash": address_hash(recipient.email),
        }
    )
    if row is None or row.objected or not _may_send(row):
        return None
    if row.email != recipient.email and compliance.is_objected(address_hash(row.email)):
        return None  # the address itself changed since the batch was read
    return _recipient(row)


def _build_batch(batch: _Batch, deliveries, recipients) -> list[tuple]:
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
        elif (raw := _build(batch, delivery, recipient, sign=False)) is not None:
            built.append((delivery, recipient, raw))
    signed = []
    for delivery, recipient, raw in built:
        try:
            prepared = _prepared_for(batch, delivery.campaign_id, recipient.locale)
            signed.append((delivery, recipient, prepared.sign(raw)))
        except SQLAlchemyError:
            raise
        except Exception as exc:  # one message's failure is its own, never the batch's
            _record_unbuildable(batch, delivery, exc)
    return signed


def _record_unbuildable(batch: _Batch, delivery, exc: Exception) -> None:
    """A message the app could not make: `failed`, "refused: " and the reason (the
    prefix of every refusal by the app itself, docs/SENDING.md "Failures")."""
    if not isinstance(exc, _Unbuildable | messages.MessageError):
        log.exception("delivery %s: the message could not be built", delivery.id)
        exc = _Unbuildable(_failure_text(exc))
    batch.record(delivery, DeliveryStatus.FAILED, f"refused: {exc}")


def _deliver_one(batch: _Batch, delivery, recipient: messages.Recipient, raw: bytes) -> None:
    """Re-check one built message's recipient and hand it to the transport; record the
    outcome (at once, or with a window of pipelined messages when the reply is read)."""
    now = _still_lawful(delivery, recipient)  # an opt-out a moment ago stops this message
    if now is None:
        return batch.record(delivery, DeliveryStatus.SKIPPED, "no lawful basis any more", False)
    if now != recipient:  # changed since the batch was read (e.g. name): build again
        recipient, raw = now, _build(batch, delivery, now)
        if raw is None:
            return None
    prepared = _prepared_for(batch, delivery.campaign_id, recipient.locale)  # built: cached
    # VERP: a bounce names this delivery (newsletter.bounces); unset: the plain sender.
    envelope_from = bounces.envelope_sender(delivery.id) or prepared.envelope_from
    batch.pacer.wait()
    outcomes = batch.transport.send(envelope_from, recipient.email, prepared.subject, raw, delivery)
    batch.settle(outcomes)


def _build(batch: _Batch, delivery, recipient: messages.Recipient, sign=True) -> bytes | None:
    """One message's bytes after the rule-4 check; None when refused (recorded).

    Every message is checked on the texts it was built from (`check_marketing_parts`:
    its header block and both bodies before base64); the first message of each prepared
    campaign is also parsed whole (`check_marketing_message`), which covers the MIME
    skeleton that all its messages share. The check runs before the DKIM signature is
    added: the signature is one header that rule 4 does not look at.
    """
    try:
        prepared = _prepared_for(batch, delivery.campaign_id, recipient.locale)
        built = prepared.compose(recipient, unique=f"c{delivery.campaign_id}.d{delivery.id}")
        problems = compliance.check_marketing_parts(built.head, built.text, built.page)
        if not problems and not prepared.skeleton_checked:
            problems = compliance.check_marketing_message(built.raw)
            prepared.skeleton_checked = not problems
        if problems:
            batch.record(delivery, DeliveryStatus.FAILED, "refused: " + "; ".join(problems))
            return None
        return prepared.sign(built.raw) if sign else built.raw
    except SQLAlchemyError:
        raise  # the database, not the message: the batch's own handling applies
    except Exception as exc:  # e.g. a locale Babel cannot load: this message fails alone
        _record_unbuildable(batch, delivery, exc)
        return None


def _smtp_text(exc: Exception, address: str | None = None) -> str:
    """The server's reply text as it may be stored: servers quote the recipient ("550
    5.1.1 <jan@example.be>: unknown"), so every copy of the address goes first."""
    message = getattr(exc, "smtp_error", b"")
    addresses = [address] if address else []
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        message = next(iter(exc.recipients.values()))[1]
        addresses += [str(recipient) for recipient in exc.recipients]
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return compliance.smtp_reply_for_storage(text, *addresses) or ""


def _recipient_address(delivery) -> str | None:
    """The address a refused delivery was for (read only when a server refuses)."""
    if delivery.subscriber_id is None:
        return None
    query = select(Subscriber.email).where(Subscriber.id == delivery.subscriber_id)
    return db.session.scalar(query)


def _load(ids: list[int]):
    return db.session.execute(
        select(
            Delivery.id,
            Delivery.campaign_id,
            Delivery.subscriber_id,
            Delivery.attempts,
            Campaign.topic_id,
            Campaign.status.label("campaign_status"),
        )
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.id.in_(ids))
        .order_by(Delivery.id)
    ).all()


def _finish_campaigns(campaign_ids: set[int]) -> None:
    for campaign_id in campaign_ids:
        campaign = db.session.get(Campaign, campaign_id)
        if campaign is not None:
            db.session.refresh(campaign)
            campaigns.finish_if_done(campaign)
    db.session.commit()


# --- the loop ----------------------------------------------------------------------------


def lease_for(batch_size: int) -> timedelta:
    """How long a claim lasts: SEND_LEASE_SECONDS, and never less than 3x the batch's
    time at NEWSLETTER_SEND_RATE (a lease must outlive the batch it covers)."""
    config = current_app.config
    seconds = float(config.get("SEND_LEASE_SECONDS") or 300)
    rate = float(config.get("SEND_RATE") or 0)
    if rate > 0:
        seconds = max(seconds, 3 * batch_size / rate)
    return timedelta(seconds=seconds)


def send_pending(
    worker_id: str,
    batch_size: int | None = None,
    until_idle: bool = True,
    stop_event: threading.Event | None = None,
    campaign_id: int | None = None,
) -> dict:
    """Claim and send deliveries that are due; returns the counts per outcome.

    With `until_idle` it goes on until nothing is left to try now (deferred messages
    wait for their retry time); otherwise it sends one batch. `campaign_id` limits it
    to one campaign (`flask campaign send --wait`).
    """
    size = int(batch_size or current_app.config.get("SEND_BATCH_SIZE") or DEFAULT_BATCH_SIZE)
    transport = make_transport()
    lease = lease_for(size)
    pacer = _Pacer(float(current_app.config.get("SEND_RATE") or 0), stop_event)
    batch = _Batch(transport, pacer, {}, worker_id=worker_id, lease=lease)
    totals: dict[str, int] = {"batches": 0}
    touched: set[int] = set()
    try:
        while not (stop_event and stop_event.is_set()):
            ids = claim_batch(worker_id, size, lease, campaign_id)
            if not ids:
                break
            batch.lease_until = utcnow() + lease
            totals["batches"] += 1
            deliveries = _load(ids)
            try:
                ready = _build_batch(batch, deliveries, _recipients(deliveries))
                untried = [delivery for delivery, _, _ in ready]
                for position, (delivery, recipient, raw) in enumerate(ready):
                    batch.keep_lease(untried, position)
                    if stop_event is not None and stop_event.is_set():
                        # Stopping: what was not tried goes back to the queue at once.
                        batch.record(delivery, DeliveryStatus.QUEUED, tried=False)
                    else:
                        _deliver_one(batch, delivery, recipient, raw)
                batch.settle(transport.flush())
                batch.write()
            except OperationalError:
                # The database went away mid-batch: save what was sent (or it would be
                # sent again); the untried rest stays claimed until its lease runs out.
                db.session.rollback()
                batch.settle(transport.flush())
                batch.write(tries=DB_WRITE_TRIES)
                raise
            touched.update(d.campaign_id for d in deliveries)
            if len(ids) < size or not until_idle:
                # A short claim: the queue is (nearly) empty, so a campaign may be done.
                # Not after every batch: that check counts the campaign's deliveries.
                _finish_campaigns(touched)
                touched.clear()
            if not until_idle:
                break
        _finish_campaigns(touched)
    finally:
        transport.close()
    for status, count in batch.counts.items():
        totals[status] = totals.get(status, 0) + count
    return totals


def run_worker(app: Flask, stop_event: threading.Event) -> None:
    """The loop of `flask worker`: send whatever is due, then poll, until stopped."""
    worker_id = new_worker_id()
    log.info("worker %s started", worker_id)
    while not stop_event.is_set():
        with app.app_context():
            try:
                counts = send_pending(worker_id, until_idle=True, stop_event=stop_event)
            except Exception:  # keep the worker alive; the lease returns the batch
                log.exception("sending failed; retrying shortly")
                db.session.rollback()
                counts = {}
            finally:
                db.session.remove()
        if counts.get("batches"):
            log.info("worker %s: %s", worker_id, counts)
        else:
            stop_event.wait(IDLE_POLL_SECONDS)
    log.info("worker %s stopped", worker_id)
