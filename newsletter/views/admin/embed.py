"""The signup form for the business's own site: a copy-paste HTML snippet (a plain form
posting to BASE_URL/subscribe) and an iframe variant (BASE_URL/embed/subscribe), both
accepted only from NEWSLETTER_EMBED_ORIGINS (docs/EMBED.md)."""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_babel import force_locale

from ... import i18n, links, security, subscriptions
from .blueprint import bp


def snippets(language: str) -> dict[str, str]:
    """The two snippets in `language`: its labels, lists and current consent text."""
    consent = subscriptions.displayed_consent_text(language)
    config = current_app.config
    with force_locale(language):
        form = render_template(
            "public/embed_snippet.html",
            action=links.public_url("public.subscribe", lang=language),
            topics=subscriptions.public_topics(),
            consent=consent,
            language=language,
            privacy_url=config["PRIVACY_POLICY_URL"] or links.public_url("public.privacy"),
        )
        frame = render_template(
            "public/embed_iframe_snippet.html",
            src=links.public_url("public.embed_subscribe", lang=language),
        )
    return {"form": form.strip(), "iframe": frame.strip(), "consent": consent}


@bp.get("/embed")
def embed():
    """The snippets in the chosen language, and the origins allowed to use them."""
    language = i18n.normalize_locale(request.args.get("locale")) or i18n.DEFAULT
    return render_template(
        "admin/embed.html",
        language=language,
        origins=sorted(security.embed_origins()),
        **snippets(language),
    )
