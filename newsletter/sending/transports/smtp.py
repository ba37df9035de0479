"""SMTP as a transport: one persistent connection, pipelined, with a sliding window.

The replies are judged here (`outcome_of`) and handed back as neutral outcomes.
"""

from __future__ import annotations

import collections
import re
import smtplib
import socket

from ... import mailer
from . import (
    ACCEPTED,
    REFUSED_PERMANENTLY,
    REFUSED_TEMPORARILY,
    UNKNOWN,
    Handoff,
    Outcome,
    one_at_a_time,
)

# Messages written to the server and not yet answered, at most, with BDAT (below).
SMTP_WINDOW = 16
# Messages written together (one write, their recipients re-checked together right
# before it), with BDAT; the window then keeps room for the next group.
SMTP_GROUP = 8

# Linux: acknowledge at once what the server sends while we wait for its replies (see
# `_ReplyReader.wait`). None elsewhere, or to measure without it.
QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class SmtpTransport:
    """One persistent SMTP connection (Flask-Mail's MAIL_* settings), reopened when lost.

    When the server offers PIPELINING (RFC 2920) MAIL, RCPT and DATA go out in one
    write: two round trips a message instead of four. When it also offers CHUNKING
    (RFC 3030; Postfix since 3.4, Exim, Exchange) each message goes as MAIL, RCPT and
    one `BDAT <size> LAST` chunk, with no dot-stuffing, a group of them in one write
    (`group` is then SMTP_GROUP: the engine re-checks that many recipients in one
    statement and `send_group` writes their messages right after, `engine.deliver_group`),
    through a sliding window: after each write the replies that have arrived are read
    without waiting, and the sender waits only when the window (SMTP_WINDOW messages
    unanswered) has no room for the next group, and then for the oldest messages. It
    never waits a round trip per message (on a network with 20 ms of latency, that wait
    alone would cap a connection at 50 messages a second), nor for a whole window to
    drain (against Postfix that cost a delayed ACK, about 40 ms, per window). Before the
    connection is open, and without BDAT, messages go one at a time, each re-checked
    right before its own bytes.

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

    @property
    def group(self) -> int:
        return SMTP_GROUP if self.connection is not None and self.chunking else 1

    def send_group(self, handoffs: list[Handoff]) -> list[Outcome]:
        if self.connection is not None and self.chunking:
            return self._send_chunks(handoffs)
        return one_at_a_time(self, handoffs)

    def send(self, sender: str, recipient: str, subject: str, raw: bytes, tag) -> list[Outcome]:
        try:
            if self.connection is None:
                self.connection = self._connect()
            if self.chunking:
                return self._send_chunks([Handoff(sender, recipient, subject, raw, tag)])
            if self.pipelining:
                _send_pipelined(self.connection, sender, recipient, raw)
            else:
                self.connection.sendmail(sender, [recipient], raw)
        except (smtplib.SMTPException, OSError) as exc:
            self._close_if_broken(exc)
            return [outcome_of(tag, exc)]
        return [outcome_of(tag, None)]

    def flush(self) -> list[Outcome]:
        """Wait for the outcome of every message written and not yet answered."""
        if not self.in_flight:
            return []
        self.reader.wait(3 * len(self.in_flight))
        return self._answered()

    def _send_chunks(self, handoffs: list[Handoff]) -> list[Outcome]:
        """Write each message as MAIL, RCPT and one `BDAT <size> LAST` chunk, all of them
        in one write; then make room in the window for the next group."""
        data = bytearray()
        for h in handoffs:
            envelope = f"MAIL FROM:<{h.sender}>\r\nRCPT TO:<{h.recipient}>\r\n"
            data += f"{envelope}BDAT {len(h.raw)} LAST\r\n".encode("ascii")
            data += h.raw
        reader = self.reader
        try:
            reader.sock.sendall(data)
        except OSError as exc:
            # The replies to earlier messages may have arrived all the same: keep them.
            reader.poll()
            reader.closed = True
            return [*self._answered(), *(outcome_of(h.tag, exc) for h in handoffs)]
        self.in_flight.extend((h.tag, h.sender, h.recipient) for h in handoffs)
        reader.poll()
        # Room for a next group as large as this one: wait for the oldest messages'
        # three replies each (one message at a time: when SMTP_WINDOW are unanswered).
        if (excess := len(self.in_flight) - (SMTP_WINDOW - len(handoffs))) > 0:
            reader.wait(3 * excess)
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
                outcomes.append(outcome_of(tag, exc))
                closing = smtp_code(exc) == 421
            else:
                outcomes.append(outcome_of(tag, None))
        if closing or self.reader.closed:
            lost = self.reader.error or smtplib.SMTPServerDisconnected(
                "connection lost before the server replied"
            )
            outcomes += [outcome_of(tag, lost) for tag, _, _ in in_flight]
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


def smtp_code(exc: Exception) -> int | None:
    """The SMTP reply code behind an exception; None for a lost connection."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return next(iter(exc.recipients.values()))[0] if exc.recipients else None
    return getattr(exc, "smtp_code", None)


def outcome_of(tag, exc: Exception | None) -> Outcome:
    """The neutral outcome of one message from what smtplib raised for it (None: 250)."""
    if exc is None:
        return Outcome(tag, ACCEPTED)
    code = smtp_code(exc)
    if not code:
        return Outcome(tag, UNKNOWN, text=type(exc).__name__)
    message, quoted = getattr(exc, "smtp_error", b""), ()
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        message = next(iter(exc.recipients.values()))[1]
        quoted = tuple(str(recipient) for recipient in exc.recipients)
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    kind = REFUSED_PERMANENTLY if code >= 500 else REFUSED_TEMPORARILY
    return Outcome(tag, kind, code, text, quoted)
