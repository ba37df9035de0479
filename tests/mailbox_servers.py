"""Real POP3 and IMAP servers on loopback for tests: the subset a poller uses.

Both hold `messages` (a dict key -> raw bytes) and apply deletions only the way the
protocols say: POP3 at QUIT (RFC 1939 6), IMAP at EXPUNGE (RFC 3501 6.4.3). `sessions`
counts logins; `fail_login` makes the server refuse credentials.
"""

from __future__ import annotations

import re
import socketserver
import threading
from dataclasses import dataclass, field


@dataclass
class Store:
    messages: dict[int, bytes] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    sessions: int = 0
    fail_login: bool = False
    user: str = "bounces"
    password: str = "secret"

    def add(self, raw: bytes) -> int:
        with self.lock:
            key = max(self.messages, default=0) + 1
            self.messages[key] = raw
            return key


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Base:
    handler: type

    def __init__(self):
        self.store = Store()
        self.server = _Server(("127.0.0.1", 0), self.handler)
        self.server.store = self.store
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class _Pop3Handler(socketserver.StreamRequestHandler):
    def send(self, line: str | bytes):
        self.wfile.write((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def handle(self):
        store: Store = self.server.store
        self.send("+OK POP3 test server ready")
        user, deleted, authed = None, set(), False
        with store.lock:
            snapshot = dict(sorted(store.messages.items()))
        numbers = list(snapshot)  # message number n -> key numbers[n-1]
        for raw_line in self.rfile:
            parts = raw_line.decode().strip().split(" ")
            command, args = parts[0].upper(), parts[1:]
            if command == "USER":
                user = args[0] if args else ""
                self.send("+OK")
            elif command == "PASS":
                authed = not store.fail_login and (user, " ".join(args)) == (
                    store.user,
                    store.password,
                )
                store.sessions += authed
                self.send("+OK logged in" if authed else "-ERR invalid credentials")
            elif not authed and command != "QUIT":
                self.send("-ERR not logged in")
            elif command == "STAT":
                self.send(f"+OK {len(numbers)} {sum(len(m) for m in snapshot.values())}")
            elif command == "RETR":
                body = snapshot[numbers[int(args[0]) - 1]]
                self.send(f"+OK {len(body)} octets")
                for line in body.split(b"\r\n")[:-1]:
                    self.send(b"." + line if line.startswith(b".") else line)
                self.send(".")
            elif command == "DELE":
                deleted.add(numbers[int(args[0]) - 1])
                self.send("+OK deleted")
            elif command == "QUIT":
                with store.lock:
                    for key in deleted:
                        store.messages.pop(key, None)
                self.send("+OK bye")
                return
            else:
                self.send("-ERR unknown command")


class Pop3Server(_Base):
    handler = _Pop3Handler


class _ImapHandler(socketserver.StreamRequestHandler):
    def send(self, data: str | bytes):
        self.wfile.write((data.encode() if isinstance(data, str) else data) + b"\r\n")

    def handle(self):
        store: Store = self.server.store
        self.send("* OK IMAP4rev1 test server ready")
        flagged_deleted: set[int] = set()
        for raw_line in self.rfile:
            tag, _, rest = raw_line.decode().strip().partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            if command == "CAPABILITY":
                self.send("* CAPABILITY IMAP4rev1")
            elif command == "LOGIN":
                user, password = [a.strip('"') for a in args.split(" ", 1)]
                if store.fail_login or (user, password) != (store.user, store.password):
                    self.send(f"{tag} NO [AUTHENTICATIONFAILED] invalid credentials")
                    continue
                store.sessions += 1
            elif command == "SELECT":
                self.send(f"* {len(store.messages)} EXISTS")
                self.send(f"{tag} OK [READ-WRITE] SELECT completed")
                continue
            elif command == "UID":
                self._uid(tag, args, store, flagged_deleted)
                continue
            elif command == "EXPUNGE":
                with store.lock:
                    for key in flagged_deleted:
                        store.messages.pop(key, None)
                flagged_deleted.clear()
            elif command == "LOGOUT":
                self.send("* BYE")
                self.send(f"{tag} OK LOGOUT completed")
                return
            else:
                self.send(f"{tag} BAD unknown command")
                continue
            self.send(f"{tag} OK {command} completed")

    def _uid(self, tag, args, store: Store, flagged_deleted: set[int]):
        sub, _, rest = args.partition(" ")
        sub = sub.upper()
        with store.lock:
            if sub == "SEARCH":
                unseen = [str(k) for k in sorted(store.messages) if k not in store.seen]
                self.send("* SEARCH " + " ".join(unseen))
            elif sub == "FETCH":
                uid = int(rest.split(" ")[0])
                body = store.messages[uid]
                self.send(f"* {uid} FETCH (UID {uid} BODY[] {{{len(body)}}}")
                self.wfile.write(body)
                self.send(")")
            elif sub == "STORE":
                uid = int(rest.split(" ")[0])
                if re.search(r"\\Deleted", rest):
                    flagged_deleted.add(uid)
                if re.search(r"\\Seen", rest):
                    store.seen.add(uid)
            else:
                self.send(f"{tag} BAD unknown UID command")
                return
        self.send(f"{tag} OK UID {sub} completed")


class ImapServer(_Base):
    handler = _ImapHandler
