"""The privacy notice, generated from the live configuration, in Dutch, French and English.

Every retention period on the page is read from the configuration at request time, so
the notice stays true when an operator changes a period (seed "ap-advertising-consent-
retention": the periods belong in the privacy statement; GDPR Art. 13(2)(a)).
"""

from __future__ import annotations

from flask import make_response, render_template

from ..i18n import select_locale
from ..mailer import envelope_sender
from .public import bp


@bp.get("/privacy")
def privacy():
    """The newsletter's privacy notice in the chosen language (see newsletter.i18n)."""
    lang = select_locale()
    page = render_template(f"public/privacy_{lang}.html", page_lang=lang, contact=envelope_sender())
    response = make_response(page)
    response.headers["Content-Language"] = lang
    response.vary.add("Accept-Language")
    return response
