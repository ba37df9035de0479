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

Embedding (docs/EMBED.md): the sites of NEWSLETTER_EMBED_ORIGINS may post the signup
form (`embeddable` views) and frame the embed page. A post whose Origin (else Referer)
is one of them needs no session CSRF token (their visitors have no session here); the
embed page inside their frame posts to this site, without cookies (SameSite), with a
signed form token instead (`EMBED_FORM_SALT`). Any other cross-site post is refused as
before. Only the embed page carries `frame-ancestors 'self' <origins>`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
from flask_wtf.csrf import CSRFError
from itsdangerous import BadData, URLSafeTimedSerializer

from .extensions import csrf

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
    app.before_request(check_embedded_post)  # before: it may take over the token check
    app.before_request(check_request_origin)


def csp_nonce() -> str:
    """This request's script nonce: `<script nonce="{{ csp_nonce() }}">`."""
    # Kept on the request, not on `g`: an app context may outlive one request.
    nonce = request.environ.get("newsletter.csp_nonce")
    if nonce is None:
        nonce = request.environ["newsletter.csp_nonce"] = secrets.token_urlsafe(16)
    return nonce


def content_security_policy(admin: bool, frame_ancestors: str | None = None) -> str:
    """The policy text for a page, with this request's nonce."""
    policy = ADMIN_POLICY if admin else PUBLIC_POLICY
    if frame_ancestors:
        policy = {**policy, "frame-ancestors": frame_ancestors}
    return "; ".join(f"{name} {value}" for name, value in policy.items()).format(nonce=csp_nonce())


def set_security_headers(response: Response) -> Response:
    """after_request: the headers above; a view's own value wins where it set one."""
    headers = response.headers
    admin = request.blueprint == "admin" or request.path.startswith("/admin")
    ancestors = embed_frame_ancestors()
    headers.setdefault("Content-Security-Policy", content_security_policy(admin, ancestors))
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if ancestors is None:  # X-Frame-Options knows no list of sites: CSP alone says it
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
    proxy forwarded it, see TRUSTED_PROXIES) and BASE_URL's. Other sites post only the
    signup form, through `embeddable` and EMBED_ORIGINS (below)."""
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


# --- embedding the signup form on other sites (docs/EMBED.md) ----------------------------

EMBED_FORM_SALT = "newsletter.embed-form"
EMBED_FORM_MAX_AGE = 24 * 3600  # an embed page left open a day still posts
_EMBEDDABLE: dict[str, bool] = {}  # "module.view" -> may be framed by the embed origins


def embeddable(frame: bool = False) -> Callable:
    """Mark a signup view that the embed origins may post to (`frame`: and frame).

    Applied under `@bp.route`. The view is exempt from Flask-WTF's automatic check;
    `check_embedded_post` does it instead, except for the posts it accepts."""

    def decorate(view):
        _EMBEDDABLE[f"{view.__module__}.{view.__name__}"] = frame
        return csrf.exempt(view)

    return decorate


def _embeddable_view() -> bool | None:
    """None when this request's view is not embeddable, else whether it may be framed."""
    view = current_app.view_functions.get(request.endpoint or "")
    return _EMBEDDABLE.get(f"{view.__module__}.{view.__name__}") if view else None


def embed_origins() -> set[str]:
    """NEWSLETTER_EMBED_ORIGINS as origins (`https://shop.example`); a JSON list, or one
    string with the origins separated by spaces or commas."""
    configured = current_app.config.get("EMBED_ORIGINS") or []
    if isinstance(configured, str):
        configured = configured.replace(",", " ").split()
    return {o for o in (origin_of(str(item).strip()) for item in configured) if o}


def embed_frame_ancestors() -> str | None:
    """The frame-ancestors of a frameable embed page (`'self'` and the embed origins);
    None for every other response (the default `'none'` stays)."""
    if _embeddable_view() is not True:
        return None
    return " ".join(["'self'", *sorted(embed_origins())])


def embed_form_token(parent: str | None) -> str:
    """The signed token the embed page's form carries instead of a session CSRF token,
    holding the embedding site's origin (for the thank-you page's link back)."""
    return _embed_serializer().dumps(parent or "")


def _embed_serializer() -> URLSafeTimedSerializer:
    config = current_app.config
    keys = [*config["SECRET_KEY_FALLBACKS"], config["SECRET_KEY"]]
    return URLSafeTimedSerializer(
        keys, salt=EMBED_FORM_SALT, signer_kwargs={"digest_method": hashlib.sha256}
    )


def _embed_form_parent() -> str | None:
    """The parent origin of a valid embed-form token in this post, "" for none; None
    when the post carries no valid token."""
    try:
        parent = _embed_serializer().loads(
            request.form.get("embed_token", ""), max_age=EMBED_FORM_MAX_AGE
        )
    except BadData:
        return None
    return parent if parent in embed_origins() else ""


def request_source() -> str | None:
    """The origin this request says it comes from: its Origin header when it has one
    (None for "null"), else the Referer's."""
    if "Origin" in request.headers:
        return origin_of(request.headers["Origin"])
    return origin_of(request.referrer)


def check_embedded_post() -> None:
    """before_request: the CSRF policy of embeddable views (see the module docstring).

    Accepted without the session token: a post from an embed origin, and the embed
    page's own post (a valid form token, posted from this site). Everything else goes
    through Flask-WTF's check as on any other form. `g.embed_origin` is the site to link
    back to.
    """
    frame = _embeddable_view()
    if frame is None or request.method != "POST":
        return
    source = request_source()
    parent = _embed_form_parent() if frame and source in trusted_origins() else None
    if source in embed_origins():
        g.embed_post, g.embed_origin = True, source
    elif parent is not None:
        g.embed_post, g.embed_origin = True, parent or None
    elif current_app.config["WTF_CSRF_ENABLED"]:
        csrf.protect()  # raises CSRFError as on every other form; then check_request_origin


def embedded_post() -> bool:
    """This post was accepted by the embed policy (its form carries no session token)."""
    return bool(g.get("embed_post"))


def back_link() -> str | None:
    """Where the thank-you page links back to: the embedding site's page (the Referer, when
    it is on that site) or its origin; never an address that is not an embed origin."""
    origin = g.get("embed_origin")
    if not origin or origin not in embed_origins():
        return None
    if origin_of(request.referrer) == origin:
        return request.referrer
    return origin + "/"
