"""DKIM signatures (RFC 6376) for marketing messages, RSA through OpenSSL.

dkimpy signs with a pure-Python RSA implementation (about 7 ms a signature, see
dkim/crypto.py: `RSASSA_PKCS1_v1_5_sign`) and has no hook for another backend. So this
module splits the header block, selects the signed headers and canonicalises them as
dkimpy does (compared with dkimpy's own functions in the tests; a message that is not
CRLF throughout goes through dkimpy's `rfc822_parse`), and signs the hash with
`cryptography` (OpenSSL, under 1 ms). Tests verify every signature with `dkim.verify`.

Canonicalisation is relaxed/simple (dkimpy's default; cheap for the body, tolerant of
header refolding). The signed header list covers what SPEC and RFC 8058 §4 require and
names each header once more than it occurs ("oversigning"), so that a header added in
transit breaks the signature instead of sneaking in.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import current_app

from ..clock import utcnow

SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)
# Each signed header once more than it occurs: an added copy breaks the signature.
H_TAG = SIGNED_HEADERS + SIGNED_HEADERS


class DkimSigner:
    """Signs finished messages for one domain and selector."""

    def __init__(self, domain: str, selector: str, private_key_pem: bytes):
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("DKIM key must be an RSA private key (PEM)")
        if key.key_size < 1024:
            raise ValueError("DKIM key is shorter than 1024 bits (checklist A7)")
        self.key = key
        self.domain = domain.encode("ascii")
        self.selector = selector.encode("ascii")

    def signature_header(self, raw: bytes) -> bytes:
        """The `DKIM-Signature:` header line (with CRLF) for a complete message."""
        headers, body = _split(raw)
        body_hash = base64.b64encode(hashlib.sha256(_simple_body(body)).digest())
        value = (
            b" v=1; a=rsa-sha256; c=relaxed/simple; d=" + self.domain
            + b"; s=" + self.selector
            + b"; t=" + str(int(utcnow().timestamp())).encode("ascii")
            + b";\r\n h=" + b":".join(H_TAG)
            + b";\r\n bh=" + body_hash
            + b";\r\n b="
        )  # fmt: skip
        signed = b"".join(_relaxed(name, val) for name, val in _select(headers, H_TAG))
        signed += _relaxed(b"dkim-signature", value).rstrip(b"\r\n")
        signature = self.key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        return b"DKIM-Signature:" + value + base64.b64encode(signature) + b"\r\n"

    def sign(self, raw: bytes) -> bytes:
        """The message with its DKIM-Signature header prepended."""
        return self.signature_header(raw) + raw


# dkimpy's `rfc822_parse`, `select_headers` and `Relaxed.canonicalize_headers` written
# out (together a quarter of a signature's cost there); tests compare them with dkimpy's
# and verify every signature with `dkim.verify`.
_WSP = re.compile(rb"[\t ]+")
_FIELD_START = re.compile(rb"\r\n(?![ \t])")  # a line break that is not a fold
_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+")  # printable, no colon


def _split(raw: bytes) -> tuple[list, bytes]:
    """(header fields as (name, value), body), as dkimpy's `rfc822_parse` gives them.

    `rfc822_parse` splits the whole message into lines and matches a pattern on each;
    a message with CRLF line ends (ours always have them) is split here at the first
    empty line and at each field start instead. Anything else goes to `rfc822_parse`.
    """
    head, blank, body = raw.partition(b"\r\n\r\n")
    if blank and b"\n" not in head.replace(b"\r\n", b"") and not head.startswith((b" ", b"\t")):
        fields = [line.partition(b":") for line in _FIELD_START.split(head)]
        if all(colon and _FIELD_NAME.fullmatch(name) for name, colon, _ in fields):
            return [(name, value + b"\r\n") for name, _, value in fields], body
    from dkim import rfc822_parse  # here: dkimpy imports dnspython (0.1 s a start)

    return rfc822_parse(raw)


def _select(headers: list, names) -> list:
    """The fields named in `h=` (RFC 6376 §5.4.2): each name takes its occurrences from
    the bottom up; a name listed more often than it occurs selects nothing more."""
    positions: dict[bytes, list[int]] = {}
    for index, (name, _) in enumerate(headers):
        positions.setdefault(name.lower(), []).append(index)
    selected = []
    for name in names:
        left = positions.get(name)
        if left:
            selected.append(headers[left.pop()])
    return selected


def _relaxed(name: bytes, value: bytes) -> bytes:
    """One field in "relaxed" header canonicalisation (RFC 6376 §3.4.2), with its CRLF."""
    value = _WSP.sub(b" ", value.replace(b"\r\n", b"").replace(b"\n", b"")).strip()
    return name.lower().rstrip() + b":" + value + b"\r\n"


def _simple_body(body: bytes) -> bytes:
    """RFC 6376 §3.4.3 "simple" body: trailing empty lines removed, one CRLF at the end."""
    if body.count(b"\n") != body.count(b"\r\n"):  # a bare LF: make every line end CRLF
        body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    stripped = body.rstrip(b"\r\n")
    return stripped + b"\r\n"


def signer_from_config() -> DkimSigner | None:
    """The signer for DKIM_DOMAIN/DKIM_SELECTOR/DKIM_PRIVATE_KEY_PATH, or None when unset.

    Loaded once per process (parsing a key costs milliseconds).
    """
    config = current_app.config
    domain, selector, path = (
        config.get("DKIM_DOMAIN"),
        config.get("DKIM_SELECTOR"),
        config.get("DKIM_PRIVATE_KEY_PATH"),
    )
    if not (domain and selector and path):
        return None
    cache = current_app.extensions.setdefault("newsletter", {})
    cached = cache.get("dkim_signer")
    if cached is None or cached[0] != (domain, selector, path):
        signer = DkimSigner(domain, selector, Path(path).read_bytes())
        cached = cache["dkim_signer"] = ((domain, selector, path), signer)
    return cached[1]
