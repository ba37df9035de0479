"""A fast loopback SMTP sink for benchmarks and scale tests: accepts and discards.

aiosmtpd tops out near 900 messages a second on the development machine, far below what
the sender can do, so it would measure itself. This server speaks just enough SMTP
(EHLO/HELO, MAIL, RCPT, DATA, BDAT, RSET, NOOP, QUIT, with PIPELINING and CHUNKING) on
a bare `asyncio.Protocol`: every reply for the commands in one read goes out in one
write, and message data is only scanned for the end-of-data line (DATA) or counted
(BDAT, RFC 3030), never parsed. `--no-chunking` leaves CHUNKING out of the EHLO reply.

It counts what it accepted, per recipient, so that a test can prove "every recipient
exactly once". Two extra verbs, for the harness only, read and reset the counts over the
same socket (no shared memory, so the sink can live in its own process):

    XSTAT   -> 250 messages=N recipients=M duplicates=D bytes=B cpu_us=C (the sink's CPU)
    XDIGEST -> 250 sha256 of the distinct recipients, sorted, one per line
    XSAVE P -> writes the last accepted message to file P (for a DKIM check)
    XRESET  -> zeroes the counts

For tests of the error paths, a recipient whose local part starts with `reject` is
refused at RCPT (550), and a message to one starting with `defer` is answered 451 at the
end of its data; neither is counted. A BDAT message to one starting with `drop` makes the
sink close the connection without answering it (the replies before it are sent first).

Run it alone: `python -m bench.sink --port 2525`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import smtplib
import socket
import time
from collections import Counter

END_OF_DATA = b"\r\n.\r\n"


class Tally:
    """What the sink accepted (shared by all connections of one server)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.cpu_at_reset = time.process_time()
        self.messages = 0
        self.bytes = 0
        self.per_recipient: Counter[bytes] = Counter()
        self.last: bytes = b""

    def digest(self) -> bytes:
        joined = b"\n".join(sorted(self.per_recipient))
        return b"250 " + hashlib.sha256(joined).hexdigest().encode() + b"\r\n"

    def stat(self) -> bytes:
        duplicates = sum(n - 1 for n in self.per_recipient.values() if n > 1)
        return (
            f"250 messages={self.messages} recipients={len(self.per_recipient)} "
            f"duplicates={duplicates} bytes={self.bytes} "
            f"cpu_us={int((time.process_time() - self.cpu_at_reset) * 1e6)}\r\n"
        ).encode()


class SinkProtocol(asyncio.Protocol):
    """One SMTP session; commands may arrive pipelined, several in one read."""

    def __init__(self, tally: Tally, chunking: bool = True):
        self.tally = tally
        self.chunking = chunking
        self.buffer = bytearray()
        self.in_data = False
        self.scan_from = 0
        self.recipients: list[bytes] = []
        self.chunk_left: int | None = None  # octets of a BDAT chunk still to come
        self.chunk_last = False
        self.chunks = bytearray()  # the message so far, from its BDAT chunks

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(b"220 sink ESMTP ready\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies: list[bytes] = []
        while self.buffer or self.chunk_left == 0:
            if self.chunk_left is not None:
                if self._take_chunk(replies):
                    return
                continue
            if self.in_data:
                if not self._take_message(replies):
                    break
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 2]
            if self._command(line, replies):
                break
        if replies:
            self.transport.write(b"".join(replies))

    def _take_message(self, replies: list[bytes]) -> bool:
        """Consume one message if its end-of-data line has arrived."""
        if self.buffer.startswith(b".\r\n"):  # empty message
            size, consumed = 0, 3
        else:
            end = self.buffer.find(END_OF_DATA, self.scan_from)
            if end < 0:
                self.scan_from = max(0, len(self.buffer) - len(END_OF_DATA))
                return False
            size, consumed = end + 2, end + len(END_OF_DATA)
        deferred = any(r.startswith(b"defer") for r in self.recipients)
        if deferred or not self.recipients:
            del self.buffer[:consumed]
            self.in_data, self.scan_from, self.recipients = False, 0, []
            replies.append(b"451 4.3.0 try later\r\n" if deferred else b"554 5.5.1 no rcpt\r\n")
            return True
        tally = self.tally
        tally.messages += 1
        tally.bytes += size
        tally.last = bytes(self.buffer[:size])
        tally.per_recipient.update(self.recipients)
        del self.buffer[:consumed]
        self.in_data, self.scan_from, self.recipients = False, 0, []
        replies.append(b"250 2.0.0 accepted\r\n")
        return True

    def _take_chunk(self, replies: list[bytes]) -> bool:
        """Consume what has arrived of a BDAT chunk; answer it once it is complete.
        True when the connection was closed (a `drop` recipient)."""
        taken = self.buffer[: self.chunk_left]
        self.chunks += taken
        del self.buffer[: len(taken)]
        self.chunk_left -= len(taken)
        if self.chunk_left:
            return False
        self.chunk_left = None
        if any(r.startswith(b"drop") for r in self.recipients):
            self.transport.write(b"".join(replies))
            self.transport.close()
            self.buffer.clear()
            return True
        if not self.recipients:
            replies.append(b"503 5.5.1 no valid recipients\r\n")
        elif not self.chunk_last:
            replies.append(b"250 2.0.0 chunk received\r\n")
            return False
        elif any(r.startswith(b"defer") for r in self.recipients):
            replies.append(b"451 4.3.0 try later\r\n")
        else:
            tally = self.tally
            tally.messages += 1
            tally.bytes += len(self.chunks)
            tally.last = bytes(self.chunks)
            tally.per_recipient.update(self.recipients)
            replies.append(b"250 2.0.0 accepted\r\n")
        self.chunks, self.recipients = bytearray(), []
        return False

    def _command(self, line: bytes, replies: list[bytes]) -> bool:
        """Answer one command; True when the connection is closing."""
        verb = line[:4].upper()
        if verb == b"RCPT":
            recipient = line[8:].strip().strip(b"<>").lower()
            if recipient.startswith(b"reject"):
                replies.append(b"550 5.1.1 no such user\r\n")
            else:
                self.recipients.append(recipient)
                replies.append(b"250 2.1.5 ok\r\n")
        elif verb == b"MAIL":
            self.recipients = []
            replies.append(b"250 2.1.0 ok\r\n")
        elif verb == b"BDAT" and self.chunking:
            size, _, last = line[5:].strip().partition(b" ")
            if size.isdigit():
                self.chunk_left, self.chunk_last = int(size), last.upper() == b"LAST"
            else:
                replies.append(b"501 5.5.4 BDAT needs a size\r\n")
        elif verb == b"DATA":
            self.in_data = True
            replies.append(b"354 end with <CRLF>.<CRLF>\r\n")
        elif verb == b"EHLO":
            chunking = b"250-CHUNKING\r\n" if self.chunking else b""
            replies.append(
                b"250-sink\r\n250-PIPELINING\r\n" + chunking + b"250-8BITMIME\r\n"
                b"250 SIZE 52428800\r\n"
            )
        elif verb in (b"HELO", b"NOOP", b"RSET"):
            if verb == b"RSET":
                self.recipients, self.chunks = [], bytearray()
            replies.append(b"250 ok\r\n")
        elif verb == b"QUIT":
            replies.append(b"221 bye\r\n")
            self.transport.write(b"".join(replies))
            replies.clear()
            self.transport.close()
            return True
        else:
            replies.append(self._control(line))
        return False

    def _control(self, line: bytes) -> bytes:
        verb, _, argument = line.partition(b" ")
        verb = verb.upper()
        if verb == b"XSTAT":
            return self.tally.stat()
        if verb == b"XDIGEST":
            return self.tally.digest()
        if verb == b"XRESET":
            self.tally.reset()
            return b"250 reset\r\n"
        if verb == b"XSAVE" and argument:
            with open(argument.decode(), "wb") as out:
                out.write(self.tally.last)
            return b"250 saved\r\n"
        return b"502 5.5.2 command not implemented\r\n"


def serve(host: str, port: int, chunking: bool = True) -> None:
    """Run the sink until the process is terminated."""

    async def main() -> None:
        tally = Tally()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SinkProtocol(tally, chunking), host, port, backlog=256
        )
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class SinkProcess:
    """The sink in a child process of its own (so it does not share our GIL)."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, chunking: bool = True):
        self.host, self.port = host, port or free_port(host)
        context = multiprocessing.get_context("spawn")
        self.process = context.Process(
            target=serve, args=(self.host, self.port, chunking), daemon=True
        )

    def start(self, timeout: float = 20.0) -> SinkProcess:
        self.process.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("the SMTP sink did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)

    def _control(self, command: str) -> str:
        with smtplib.SMTP(self.host, self.port, timeout=30) as connection:
            code, text = connection.docmd(command)
        if code != 250:
            raise RuntimeError(f"sink answered {code} {text!r}")
        return text.decode()

    def stats(self) -> dict[str, int]:
        """Counts since the last reset: messages, recipients, duplicates, bytes."""
        fields = (item.split("=") for item in self._control("XSTAT").split())
        return {name: int(value) for name, value in fields}

    def recipients_digest(self) -> str:
        """sha256 of the distinct recipients (lower-cased), sorted, joined by newlines."""
        return self._control("XDIGEST")

    def reset(self) -> None:
        self._control("XRESET")

    def save_last(self, path: str) -> None:
        self._control(f"XSAVE {path}")

    def __enter__(self) -> SinkProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--no-chunking", action="store_true", help="do not offer BDAT")
    arguments = parser.parse_args()
    print(f"SMTP sink on {arguments.host}:{arguments.port}")
    serve(arguments.host, arguments.port, chunking=not arguments.no_chunking)
