"""Re-consent pages: GET shows a "keep me subscribed" button and changes nothing (link
scanners prefetch GETs); POST renews the consent (SPEC rule 6)."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _

from ... import compliance, i18n, links, subscriptions, tokens
from ...extensions import db, limiter
from ...forms import ButtonForm
from ...reconsent import renew_consent, subscriber_from_token
from .blueprint import bp
from .helpers import evidence, expired_form, link_rate_limit, page, page_language


def reconsent_expired():
    """The re-consent period is over: the address is gone; one may subscribe again."""
    return page(
        _("This link has expired"),
        _(
            "The time to renew your subscription has passed, so we have stopped sending you "
            "mail and deleted your address. You are welcome to subscribe again."
        ),
        410,
        show_subscribe=True,
    )


@bp.get("/reconsent/<token>")
@limiter.limit(link_rate_limit)
def reconsent(token: str):
    """Show the "keep me subscribed" button and the unsubscribe alternative."""
    try:
        subscriber = subscriber_from_token(token)
    except tokens.ExpiredTokenError:
        return reconsent_expired()
    i18n.use_locale(subscriber.locale)
    return reconsent_page(subscriber)


def reconsent_page(subscriber, changed: bool = False, status: int = 200):
    """The page, with the consent text in its language beside the button."""
    language = page_language()
    return render_template(
        "public/reconsent.html",
        form=ButtonForm(),
        consent=subscriptions.displayed_consent_text(language),
        language=language,
        changed=changed,
        topics=[s.topic for s in subscriber.subscriptions if s.confirmed_at],
        unsubscribe_url=links.unsubscribe_url(subscriber.public_id),
    ), status


@bp.post("/reconsent/<token>")
@limiter.limit(link_rate_limit)
def reconsent_post(token: str):
    """Renew the consent: a new consent event, and the two-year clock starts again."""
    if not ButtonForm().validate_on_submit():
        return expired_form()
    try:
        subscriber = subscriber_from_token(token)
        i18n.use_locale(subscriber.locale)
        subscriber, _renewed = renew_consent(
            token,
            evidence("re-consent page"),
            consent_text_id=request.form.get("consent_text_id"),
            language=page_language(),
        )
    except tokens.ExpiredTokenError:
        return reconsent_expired()
    except compliance.ConsentTextChangedError:
        db.session.rollback()
        return reconsent_page(subscriber, changed=True, status=409)
    db.session.commit()
    return page(
        _("Thank you: you stay subscribed"),
        _("Your consent is renewed. You can change your lists or unsubscribe at any time."),
        preferences_link=links.preferences_url(subscriber.public_id),
    )
