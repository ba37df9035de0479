"""TLS for browser tests: a self-signed certificate, the app served over HTTPS, and a
TLS-terminating reverse proxy shaped like nginx's usual configuration.

The proxy passes `Host` on unchanged (`proxy_set_header Host $host`) and adds
`X-Forwarded-For` and `X-Forwarded-Proto: https`, which the app trusts with
NEWSLETTER_TRUSTED_PROXIES=1; it is the only way in, as behind a real proxy.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


def self_signed_certificate(folder: Path, host: str = "localhost") -> tuple[Path, Path]:
    """(certificate, key) PEM files for `host`, 127.0.0.1 and localhost, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def server_context(cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert)
    return context


@contextmanager
def _running(server) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def serve_https(app, port: int, cert: tuple[Path, Path]) -> Iterator[str]:
    """Serve a WSGI app over HTTPS on loopback (werkzeug); yields its base URL."""
    server = make_server("127.0.0.1", port, app, threaded=True, ssl_context=server_context(cert))
    with _running(server):
        yield f"https://127.0.0.1:{port}"


@contextmanager
def serve_http(app, port: int) -> Iterator[str]:
    server = make_server("127.0.0.1", port, app, threaded=True)
    with _running(server):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def tls_proxy(port: int, backend_port: int, cert: tuple[Path, Path]) -> Iterator[str]:
    """A TLS-terminating reverse proxy on `port` to plain HTTP on `backend_port`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: simple and enough

        def _forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["X-Forwarded-For"] = self.client_address[0]
            headers["X-Forwarded-Proto"] = "https"
            backend = http.client.HTTPConnection("127.0.0.1", backend_port, timeout=30)
            try:
                backend.request(self.command, self.path, body=body, headers=headers)
                answer = backend.getresponse()
                payload = answer.read()
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            finally:
                backend.close()

        do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_OPTIONS = _forward

        def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.socket = server_context(cert).wrap_socket(server.socket, server_side=True)
    with _running(server):
        yield f"https://127.0.0.1:{port}"
