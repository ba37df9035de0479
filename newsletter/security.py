"""Response headers that make every page harder to abuse (docs/RELIABILITY.md).

- Content-Security-Policy: scripts only from this site or carrying the request's nonce
  (`{{ csp_nonce() }}` in templates), never inline handlers or `unsafe-inline`;
  `frame-ancestors 'none'` (no clickjacking of the one-click unsubscribe or the admin).
  Admin pages also allow inline styles and remote images: they show email previews,
  whose HTML is styled inline, in sandboxed frames that inherit this policy.
- `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` (older browsers).
- `Referrer-Policy: no-referrer`: the signed links of subscriber pages must not leak
  to another site through the Referer header.
- `Cache-Control: no-store` on pages (not static files): shared caches must not keep
  a subscriber's preferences page.
- `Strict-Transport-Security` when BASE_URL is https.
Cookies (Secure when BASE_URL is https, HttpOnly, SameSite=Lax) are set in config.py.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, current_app, request

PUBLIC_POLICY = {
    "default-src": "'self'",
    "script-src": "'self' 'nonce-{nonce}'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "object-src": "'none'",
}
# Email previews: inline-styled HTML and the author's images, in sandboxed frames.
ADMIN_POLICY = {
    **PUBLIC_POLICY,
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data: https:",
}


def init_app(app: Flask) -> None:
    """Add the headers to every response and `csp_nonce()` to the templates."""
    app.after_request(set_security_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce


def csp_nonce() -> str:
    """This request's script nonce: `<script nonce="{{ csp_nonce() }}">`."""
    # Kept on the request, not on `g`: an app context may outlive one request.
    nonce = request.environ.get("newsletter.csp_nonce")
    if nonce is None:
        nonce = request.environ["newsletter.csp_nonce"] = secrets.token_urlsafe(16)
    return nonce


def content_security_policy(admin: bool) -> str:
    """The policy text for a page, with this request's nonce."""
    policy = ADMIN_POLICY if admin else PUBLIC_POLICY
    return "; ".join(f"{name} {value}" for name, value in policy.items()).format(nonce=csp_nonce())


def set_security_headers(response: Response) -> Response:
    """after_request: the headers above; a view's own value wins where it set one."""
    headers = response.headers
    admin = request.blueprint == "admin" or request.path.startswith("/admin")
    headers.setdefault("Content-Security-Policy", content_security_policy(admin))
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.endpoint != "static":
        headers.setdefault("Cache-Control", "no-store")
    if current_app.config["BASE_URL"].startswith("https://"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response
