"""A real SMTP server on loopback for tests, with scriptable failures.

`sink.messages` holds every accepted message (envelope + parsed mail). `sink.fail_next`
is a list of SMTP replies (e.g. "451 4.3.0 try later", "550 5.1.1 no such user") used,
one per message, before accepting again; the string "drop" closes the connection in
the middle of DATA. `sink.on_message` (optional) is called with each accepted message,
in the server's thread, before the reply: a test can change the world mid-send.
`sink.connections` counts the SMTP sessions opened (to see reconnects).
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self):
        return email.message_from_bytes(self.raw, policy=email.policy.default)


@dataclass
class _Handler:
    messages: list[Received] = field(default_factory=list)
    fail_next: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_message: Callable[[Received], None] | None = None
    connections: int = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            self.connections += 1
        return responses

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            reply = self.fail_next.pop(0) if self.fail_next else None
        if reply == "drop":
            server.transport.close()  # the SMTP protocol object owns the transport
            return "421 4.4.2 connection dropped"
        if reply:
            return reply
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        with self.lock:
            self.messages.append(received)
        if self.on_message is not None:
            self.on_message(received)
        return "250 2.0.0 OK"


class SmtpSink:
    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.host, self.port = host, port
        self.handler = _Handler()
        self.controller = Controller(self.handler, hostname=host, port=port)

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    @property
    def fail_next(self) -> list[str]:
        return self.handler.fail_next

    @property
    def connections(self) -> int:
        return self.handler.connections

    def config(self) -> dict:
        """App configuration overrides that send mail to this server."""
        return {"MAIL_SERVER": self.host, "MAIL_PORT": self.port}

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()
