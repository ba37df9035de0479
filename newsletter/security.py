"""Response headers that make every page harder to abuse (docs/RELIABILITY.md).

- Content-Security-Policy: scripts only from this site or carrying the request's nonce
  (`{{ csp_nonce() }}` in templates), never inline handlers or `unsafe-inline`;
  `frame-ancestors 'none'` (no clickjacking of the one-click unsubscribe or the admin).
  Admin pages also allow inline styles and remote images: they show email previews,
  whose HTML is styled inline, in sandboxed frames that inherit this policy.
- `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` (older browsers).
- `Referrer-Policy: same-origin`: the signed links of subscriber pages (/confirm/<token>,
  /preferences/<token>) never reach another site through the Referer header, while our
  own form posts carry their Origin and Referer (see `check_request_origin`).
- `Cache-Control: no-store` on pages (not static files): shared caches must not keep
  a subscriber's preferences page.
- `Strict-Transport-Security` when BASE_URL is https.
Cookies (Secure when BASE_URL is https, HttpOnly, SameSite=Lax) are set in config.py.

Form posts over HTTPS: besides Flask-WTF's CSRF token, `check_request_origin` requires
the post to come from one of `trusted_origins()`: the `Origin` header when the browser
sends one, else the `Referer` (the order Django's CSRF check uses). It replaces
Flask-WTF's `WTF_CSRF_SSL_STRICT` check, which looks at the Referer only.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
from flask_wtf.csrf import CSRFError

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
    # Registered after csrf.init_app: runs once Flask-WTF has checked the token, and
    # takes over its Referer-only same-origin check (see the module docstring).
    app.config["WTF_CSRF_SSL_STRICT"] = False
    app.before_request(check_request_origin)


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
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.endpoint != "static":
        headers.setdefault("Cache-Control", "no-store")
    if current_app.config["BASE_URL"].startswith("https://"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def origin_of(url: str | None) -> str | None:
    """`scheme://host[:port]` of a URL, lower-cased, default ports left out; None if none."""
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def trusted_origins() -> set[str]:
    """The sites whose pages may post forms here: this request's own origin (as the
    proxy forwarded it, see TRUSTED_PROXIES) and BASE_URL's. Extend here to let other
    sites post (e.g. an embedded signup form)."""
    return {
        o for o in (origin_of(request.host_url), origin_of(current_app.config["BASE_URL"])) if o
    }


def check_request_origin() -> None:
    """before_request: refuse a secure form post that does not come from a trusted origin.

    Runs only where Flask-WTF accepted a CSRF token (`g.csrf_valid`): views exempt from
    CSRF (the API, the RFC 8058 one-click unsubscribe) are not concerned. Over plain
    HTTP the token alone decides, as with Flask-WTF. Raises CSRFError with the reason.
    """
    if not g.get("csrf_valid") or not request.is_secure:
        return
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin_of(origin) not in trusted_origins():
            raise CSRFError(f"The Origin header ({origin[:100]}) is not this site.")
        return
    if not request.referrer:
        raise CSRFError("The request carries neither an Origin nor a Referer header.")
    if origin_of(request.referrer) not in trusted_origins():
        raise CSRFError(f"The Referer header is from another site ({origin_of(request.referrer)}).")
