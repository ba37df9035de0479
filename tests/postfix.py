"""A private, loopback-only Postfix for tests and benchmarks (Debian's `postfix` package).

    with PostfixInstance() as mta:          # starts it in a temporary directory
        ...send to mta.host, mta.port...
        mta.wait_for(100)                   # until 100 messages are in the maildirs
        mta.delivered()                     # Counter: recipient -> messages delivered

What it is: the distribution's own Postfix (smtpd, cleanup, qmgr, virtual: the daemons a
real relay runs), with a configuration directory, queue, data directory and maildirs of
its own in a temporary directory, so it never meets the host's Postfix (if any) or
another instance. Postfix's defaults are kept where they concern speed (PIPELINING,
CHUNKING, in_flow_delay, process limits), so what the sender meets is what it meets on a
Debian relay. What is changed is isolation:

- `smtpd` listens on 127.0.0.1:PORT only (a free port); no other inet service;
- every domain is a virtual mailbox domain (`virtual_mailbox_domains = static:all`):
  each message is delivered to one maildir under the temporary directory (`mail/all/`;
  Postfix's virtual agent allows no per-address pattern), each file starting with the
  `Delivered-To:` header of its envelope recipient, and nothing is ever relayed; `default_transport`
  and `relay_transport` are `error` besides (belt and braces);
- no DNS: `smtpd_peername_lookup = no`, `disable_dns_lookups = yes`.

Postfix's master runs as root (it binds the port and drops to the `postfix` user for
its daemons), so starting needs root; `available()` says why it cannot when it cannot,
for tests to skip with that reason. Debian: `apt-get install postfix` (preseed
`postfix postfix/main_mailer_type select No configuration` with debconf-set-selections:
no host configuration is needed or used).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
DAEMON_DIRECTORY = "/usr/lib/postfix/sbin"

MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
{listen} inet n - n - - smtpd
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
daemon_directory = {daemons}
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
myhostname = mta.postfix.test
mydomain = postfix.test
myorigin = $myhostname
mydestination =
relayhost =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
disable_dns_lookups = yes
smtp_dns_support_level = disabled
biff = no
alias_maps =
alias_database =
append_dot_mydomain = no
notify_classes =
default_transport = error:this test instance delivers nothing outside its maildirs
relay_transport = error:this test instance delivers nothing outside its maildirs
local_transport = error:no local delivery in this test instance
virtual_mailbox_domains = static:all
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = static:all/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_mailbox_limit = 0
message_size_limit = 52428800
smtpd_recipient_restrictions = check_recipient_access regexp:{root}/etc/recipients
"""

# As bench/sink.py does: a recipient whose local part starts with `reject` is refused at
# RCPT with 550, one starting with `defer` with 450 (for tests of the error paths).
RECIPIENTS = """\
/^reject/ 550 5.1.1 no such user
/^defer/ 450 4.2.0 try again later
"""


def available() -> str | None:
    """None when an instance can be started here; otherwise the reason it cannot."""
    if not os.path.exists(POSTFIX) or not os.path.isdir(DAEMON_DIRECTORY):
        return "Postfix is not installed (Debian: apt-get install postfix)"
    if os.geteuid() != 0:
        return "Postfix's master process must be started as root"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "the postfix user does not exist (the package's postinst creates it)"
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class PostfixInstance:
    """One private Postfix on 127.0.0.1:`port`, in a temporary directory (removed by
    `stop`). See the module docstring."""

    def __init__(
        self,
        port: int | None = None,
        main_cf_extra: dict[str, str] | None = None,
        tls: bool = False,
    ):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.extra = main_cf_extra or {}
        self.tls = tls  # STARTTLS offered, with a self-signed certificate made here
        self.root: Path | None = None

    # --- life cycle

    def start(self, timeout: float = 30.0) -> PostfixInstance:
        reason = available()
        if reason:
            raise RuntimeError(reason)
        self.root = Path(tempfile.mkdtemp(prefix="nl-postfix-"))
        self.root.chmod(0o755)  # Postfix's daemons run as `postfix` and must get in
        owner = pwd.getpwnam("postfix")
        etc = self.root / "etc"
        etc.mkdir()
        main = MAIN_CF.format(
            root=self.root, daemons=DAEMON_DIRECTORY, uid=owner.pw_uid, gid=owner.pw_gid
        )
        if self.tls:
            main += _tls_settings(etc)
        main += "".join(f"{name} = {value}\n" for name, value in self.extra.items())
        (etc / "main.cf").write_text(main)
        (etc / "recipients").write_text(RECIPIENTS)
        (etc / "master.cf").write_text(MASTER_CF.format(listen=f"{self.host}:{self.port}"))
        for name in ("spool", "data", "mail"):
            (self.root / name).mkdir()
        os.chown(self.root / "data", owner.pw_uid, owner.pw_gid)
        os.chown(self.root / "mail", owner.pw_uid, owner.pw_gid)
        self._postfix("start")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"220"):
                        return self
            except OSError:
                time.sleep(0.1)
        log = self.log()
        self.stop()
        raise RuntimeError(f"Postfix did not start on port {self.port}:\n{log[-2000:]}")

    def stop(self) -> None:
        if self.root is None:
            return
        pid_file = self.root / "spool" / "pid" / "master.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = None
        self._postfix("abort", check=False)  # no need to drain a throw-away queue
        if pid is not None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> PostfixInstance:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _postfix(self, command: str, check: bool = True) -> None:
        result = subprocess.run(
            [POSTFIX, "-c", str(self.root / "etc"), command],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"postfix {command} failed: {result.stderr or result.stdout}")

    # --- what was delivered

    def delivered(self) -> Counter[str]:
        """Messages in the maildir, per recipient: the `Delivered-To` header that
        Postfix's virtual agent puts on top of each message (the envelope recipient)."""
        counts: Counter[str] = Counter()
        for path in self.maildir_files():
            with open(path, "rb") as message:
                for line in message:
                    if line.lower().startswith(b"delivered-to:"):
                        counts[line.split(b":", 1)[1].strip().decode().lower()] += 1
                        break
                    if not line.strip():
                        break
        return counts

    def maildir_files(self) -> list[Path]:
        """Every message delivered so far (the one maildir's new/ and cur/)."""
        box = self.root / "mail" / "all"
        return sorted([*box.glob("new/*"), *box.glob("cur/*")])

    def queue_is_empty(self) -> bool:
        """Nothing waiting in Postfix's queues (incoming, active, deferred, hold...)."""
        spool = self.root / "spool"
        for name in ("maildrop", "incoming", "active", "deferred", "hold", "corrupt"):
            directory = spool / name
            if directory.is_dir() and any(p.is_file() for p in directory.rglob("*")):
                return False
        return True

    def wait_for(self, messages: int, timeout: float = 120.0) -> Counter[str]:
        """Wait until `messages` messages are in the maildirs and the queue is empty (or
        the timeout); returns `delivered()`. Postfix delivers after it has answered."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.delivered()
            done = sum(counts.values()) >= messages and self.queue_is_empty()
            if done or time.monotonic() > deadline:
                return counts
            time.sleep(0.1)

    def log(self) -> str:
        """Postfix's own log (maillog_file)."""
        try:
            return (self.root / "maillog").read_text(errors="replace")
        except (OSError, TypeError):
            return ""


def _tls_settings(etc: Path) -> str:
    """A key and a self-signed certificate for STARTTLS, and the main.cf lines for them."""
    from tests.tls import self_signed_certificate

    cert, key = self_signed_certificate(etc, "mta.postfix.test")
    return (
        f"smtpd_tls_chain_files = {key}, {cert}\n"
        "smtpd_tls_security_level = may\n"
        "smtpd_tls_received_header = yes\n"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
