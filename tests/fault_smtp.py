"""More failures for the loopback SMTP server (tests/smtp_sink.py), for fault tests.

Besides the replies and "drop" of `SmtpSink.fail_next`, this sink understands:
- "hang": take the message and say nothing for `hang_seconds` (a stuck server; the
  client's MAIL_TIMEOUT must fire), then answer 451 to a client long gone;
- "accept-drop": keep the message, then close the connection before the 250 reply.
  The client cannot know it arrived: it tries again, and the person gets it twice.
  This is SMTP's own ambiguity (RFC 1047), counted as a duplicate, never hidden.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiosmtpd.controller import Controller

from tests.smtp_sink import Received, SmtpSink, _Handler


@dataclass
class _FaultHandler(_Handler):
    hang_seconds: float = 3.0

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            special = self.fail_next[0] if self.fail_next else None
            if special in ("hang", "accept-drop"):
                self.fail_next.pop(0)
            else:
                special = None
        if special == "hang":
            await asyncio.sleep(self.hang_seconds)
            return "451 4.4.1 answered too late"
        if special == "accept-drop":
            received = Received(
                envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
            )
            with self.lock:
                self.messages.append(received)
            server.transport.close()
            return "250 2.0.0 OK (never heard)"
        return await super().handle_DATA(server, session, envelope)


class FaultSink(SmtpSink):
    """SmtpSink with the "hang" and "accept-drop" modes."""

    def __init__(self, port: int, host: str = "127.0.0.1", hang_seconds: float = 3.0):
        # Not SmtpSink.__init__: its Controller would own an event loop never closed.
        self.host, self.port = host, port
        self.handler = _FaultHandler(hang_seconds=hang_seconds)
        self.controller = Controller(self.handler, hostname=host, port=port)
