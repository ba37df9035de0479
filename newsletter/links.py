"""Absolute links for mail, built from BASE_URL (never from the request's Host header)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from flask import current_app
from werkzeug.routing import MapAdapter

from . import tokens


def _adapter() -> MapAdapter:
    cache = current_app.extensions.setdefault("newsletter", {})
    adapter = cache.get("url_adapter")
    if adapter is None:
        parts = urlsplit(current_app.config["BASE_URL"])
        adapter = current_app.url_map.bind(
            parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme or "https"
        )
        cache["url_adapter"] = adapter
    return adapter


def public_url(endpoint: str, **values) -> str:
    """The absolute public URL of an endpoint, usable in mail and outside requests."""
    return _adapter().build(endpoint, values, force_external=True)


def unsubscribe_url(public_id: str) -> str:
    return public_url("public.unsubscribe", token=tokens.sign(tokens.UNSUBSCRIBE, public_id))


def preferences_url(public_id: str) -> str:
    return public_url("public.preferences", token=tokens.sign(tokens.PREFERENCES, public_id))


def privacy_url() -> str:
    """The configured privacy policy, or the generated notice at /privacy."""
    return current_app.config.get("PRIVACY_POLICY_URL") or public_url("public.privacy")


LOOPBACK_HOSTS = frozenset({"localhost", "::1"})


def is_loopback_url(url: str) -> bool:
    """True when `url`'s host is this machine (127.0.0.0/8, localhost, [::1]): the only
    place where plain-http links are allowed (SPEC: BASE_URL)."""
    host = (urlsplit(url).hostname or "").lower()
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name such as 127.example.org is not an address
        return False
