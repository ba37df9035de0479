"""Issue 13, problem 4: the footer is the system's, and the author's content keeps it true.

A layout cannot hide, comment out or restyle the footer (the system places it after the
layout's content, in a fixed block, and the check requires it verbatim and visible); the
author cannot offer another way to opt out, a look-alike unsubscribe link, a tracking
pixel or a redirecting link. Every path in nl, fr and en; on the default configuration.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jinja2 import ChoiceLoader, FileSystemLoader
from sqlalchemy import select

from newsletter import campaigns, compliance, messages, sending
from newsletter.extensions import db
from newsletter.models import Campaign, CampaignStatus, Delivery
from tests.helpers import mail_html, mail_text
from tests.test_compliance_messages import FOOTER

ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = ["nl", "fr", "en"]
UNSUBSCRIBE_WORDS = {
    "nl": "Uitschrijven voor alle marketing",
    "fr": "Se désinscrire de tout marketing",
    "en": "Unsubscribe from all marketing",
}
# The default layout as it was before issue 13, footer and all (an operator's copy).
OLD_LAYOUT = (ROOT / "tests" / "data" / "layout_before_issue13.html").read_text()


def use_layout(app, tmp_path, page: str) -> None:
    """Serve this email/layout.html, as an operator who overrides templates/email would."""
    folder = tmp_path / "layouts" / "email"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "layout.html").write_text(page)
    app.jinja_env.loader = ChoiceLoader([FileSystemLoader(tmp_path / "layouts"), app.jinja_loader])


def default_layout() -> str:
    return (ROOT / "templates" / "email" / "layout.html").read_text()


def with_css(rule: str) -> str:
    return default_layout().replace("</style>", rule + "\n</style>")


# --- the footer is the system's: a layout cannot hide it --------------------------------

# Tricks aimed at what follows the layout's content (where the system puts the footer):
# each is refused, before sending, with what to change in which file.
LAYOUT_TRICKS = {
    "display-none": (
        default_layout().replace("<body>", '<body style="display:none">'),
        "the layout styles <body> with display:none",
    ),
    "visibility-hidden": (
        with_css("body { visibility: hidden; }"),
        "the layout styles <body> with visibility:hidden",
    ),
    "one-pixel-text": (
        with_css("body { font-size: 1px; line-height: 1px; }"),
        "the layout styles <body> with font-size:1px",
    ),
    "font-size-zero": (
        with_css("html { font-size: 0; }"),
        "the layout styles <html> with font-size:0",
    ),
    "white-on-white": (
        with_css("body { color: #ffffff; background: #ffffff; }"),
        "the layout styles <body> with color:#ffffff",
    ),
    "outlook-comment": (
        default_layout().replace(
            "</body>", '<!--[if mso]><div style="display:none"><![endif]-->\n</body>'
        ),
        "in Outlook the system footer ends up inside <div>, opened in a conditional comment",
    ),
    "covered-by-a-box": (
        default_layout().replace(
            '<div class="wrap">',
            '<div style="position:absolute;top:0;left:0;width:100%;height:9999px;'
            'background:#fff"></div><div class="wrap">',
        ),
        "an element of the layout is positioned, transformed or given a negative margin",
    ),
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("trick", sorted(LAYOUT_TRICKS))
def test_footer_is_the_systems_a_layout_that_hides_it_is_refused(
    app, tmp_path, make_campaign, make_subscriber, outbox, trick, language
):
    page, reason = LAYOUT_TRICKS[trick]
    person = make_subscriber(f"{language}@example.be")
    person.locale = language
    db.session.commit()
    campaign = make_campaign()
    use_layout(app, tmp_path, page)
    shown = campaigns.preview_message(campaign, person)
    assert any(p.startswith(reason) for p in shown.problems), shown.problems
    assert any("templates/email/layout.html" in p for p in shown.problems)
    with pytest.raises(campaigns.CampaignError, match=re.escape(reason)):
        campaigns.start_sending(campaign)
    db.session.rollback()
    with pytest.raises(campaigns.CampaignError, match=re.escape(reason)):
        campaigns.send_test(campaign, "boss@shop.example", language=language)
    db.session.commit()
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.DRAFT
    assert outbox() == []


# The pre-issue-13 layout with its own footer hidden in each way: refused, since the
# footer is no longer the layout's to render (it prints the system's values).
FOOTER_DIV = '<div class="footer">'
OLD_LAYOUT_TRICKS = {
    "display-none": lambda t: t.replace(FOOTER_DIV, '<div class="footer" style="display:none">'),
    "visibility-hidden": lambda t: t.replace(".footer {", ".footer { visibility: hidden;"),
    "one-pixel-white-text": lambda t: t.replace(
        ".footer {", ".footer { font-size: 1px !important; color: #ffffff;"
    ),
    "font-size-zero": lambda t: t.replace(".footer {", ".footer { font-size: 0;"),
    "white-on-white": lambda t: t.replace("color: #5b6475;", "color: #f4f5f7;"),
    "html-comment": lambda t: t.replace(FOOTER_DIV, "<!-- " + FOOTER_DIV).replace(
        "{{ organization_address }}</p>\n</div>", "{{ organization_address }}</p>\n</div> -->"
    ),
    "inside-head": lambda t: t.replace("</head>", "").replace(FOOTER_DIV, FOOTER_DIV + "</head>"),
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("trick", sorted(OLD_LAYOUT_TRICKS))
def test_footer_is_the_systems_a_layout_with_its_own_hidden_footer_is_refused(
    app, tmp_path, make_campaign, trick, language
):
    changed = OLD_LAYOUT_TRICKS[trick](OLD_LAYOUT)
    assert changed != OLD_LAYOUT
    use_layout(app, tmp_path, changed)
    campaign = make_campaign()
    shown = campaigns.preview_message(campaign, None, language)
    [problem] = shown.problems
    assert problem.startswith("templates/email/layout.html or layout.txt prints {{ reason }}")
    assert "remove the layout's own footer" in problem
    with pytest.raises(campaigns.CampaignError, match=re.escape(problem)):
        campaigns.start_sending(campaign)


def tamper(prepared: messages.PreparedCampaign, old: str, new: str) -> None:
    """Change the fixed part of a prepared campaign's HTML (as a bug or a patch might)."""
    parts = prepared.html.parts
    assert any(not slot and old in text for slot, text in parts), old
    prepared.html.parts = [(slot, text if slot else text.replace(old, new)) for slot, text in parts]


START = "<div " + messages.FOOTER_MARK
# A message whose footer was hidden after the app built it: the check refuses it.
TAMPERED = {
    "display-none": (
        (START, '<div style="display:none">' + START),
        ("</div></body>", "</div></div></body>"),
        "the system footer ends up inside <div style='display:none'>",
    ),
    "visibility-hidden": (
        (START, '<span style="visibility:hidden">' + START),
        ("</div></body>", "</div></span></body>"),
        "the system footer ends up inside <span style='visibility:hidden'>",
    ),
    "font-size-zero": (
        (START, '<div style="font-size:0">' + START),
        ("</div></body>", "</div></div></body>"),
        "the system footer ends up inside <div style='font-size:0'>",
    ),
    "white-on-white": (
        ("color:#333333", "color:#ffffff"),
        ("font-size:14px;line-height", "font-size:1px;line-height"),
        "the HTML part does not carry the system footer as the app writes it",
    ),
    "html-comment": (
        (START, "<!-- " + START),
        ("</div></body>", "</div> --></body>"),
        "the system footer ends up inside an HTML comment",
    ),
    "inside-head": (
        ("</head>", ""),
        (START, "<title>" + START),
        "the system footer ends up inside <title>",
    ),
    "stylesheet": (
        ("</head>", "<style>[data-newsletter-footer] { display: none !important }</style></head>"),
        ("<title>", "<title>"),
        "the HTML part holds <style> (a stylesheet)",
    ),
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("trick", sorted(TAMPERED))
def test_footer_is_the_systems_a_footer_hidden_after_building_is_refused(
    make_campaign, trick, language
):
    first, second, reason = TAMPERED[trick]
    prepared = messages.prepare(make_campaign(), locale=language)
    recipient = messages.sample_recipient(language)
    assert compliance.check_marketing_message(prepared.compose(recipient).raw) == []
    tamper(prepared, *first)
    tamper(prepared, *second)
    problems = compliance.check_marketing_message(prepared.compose(recipient).raw)
    assert any(p.startswith(reason) for p in problems), problems


def test_footer_is_the_systems_the_sender_refuses_a_hidden_footer_in_each_language(
    app, tmp_path, make_campaign, make_subscriber
):
    """Hidden after the start (a changed layout on a worker): every language refused."""
    for language in LANGUAGES:
        make_subscriber(f"{language}@example.be").locale = language
    db.session.commit()
    campaigns.start_sending(make_campaign())
    db.session.commit()
    use_layout(app, tmp_path, LAYOUT_TRICKS["white-on-white"][0])
    assert sending.send_pending("test-worker") == {"batches": 1, "failed": 3}
    errors = db.session.scalars(select(Delivery.last_error)).all()
    assert all(e.startswith("refused: the layout styles <body> with color:#ffffff") for e in errors)


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("language", LANGUAGES)
def test_footer_is_the_systems_last_in_body_readable_in_each_language(
    make_campaign, make_subscriber, outbox, language
):
    make_subscriber("ann@example.org").locale = language
    db.session.commit()
    campaigns.start_sending(make_campaign())
    db.session.commit()
    sending.send_pending("test-worker")
    [message] = outbox()
    page, text = mail_html(message), mail_text(message)
    footer = page[page.index(START) :]
    assert re.fullmatch(r"<div [^>]*>.*</div></body></html>\s*", footer, re.S)
    assert f'lang="{language}"' in footer.split(">")[0]
    assert UNSUBSCRIBE_WORDS[language] in footer
    assert f"color:{messages.FOOTER_TEXT_COLOR}" in footer.split(">")[0]
    assert f"background-color:{messages.FOOTER_BACKGROUND}" in footer.split(">")[0]
    assert text.rstrip().endswith("Demo Shop, Rue de l'Exemple 1, 1000 Brussels")
    assert UNSUBSCRIBE_WORDS[language] in text[text.rindex("\n-- \n") :]
    # Readable: WCAG AA contrast (4.5:1) for the text and the links, and 14 px type.
    assert contrast(messages.FOOTER_TEXT_COLOR, messages.FOOTER_BACKGROUND) >= 4.5
    assert contrast(messages.FOOTER_LINK_COLOR, messages.FOOTER_BACKGROUND) >= 4.5
    assert messages.FOOTER_FONT_PX >= 12
    assert compliance.check_marketing_message(message) == []


# --- author text that offers another way to unsubscribe ---------------------------------

OTHER_WAYS = {
    "en": "To unsubscribe, call our customer service on 02 123 45 67.",
    "nl": "Bel onze klantendienst om je af te melden.",
    "fr": "Pour vous désinscrire, appelez notre service clientèle.",
}
FINE = {
    "en": "You can unsubscribe at any time with the link at the bottom. Call us for advice!",
    "nl": "Afmelden kan altijd onderaan deze e-mail. Bel ons gerust voor advies.",
    "fr": "Vous pouvez vous désinscrire de la lettre d'information via le lien ci-dessous.",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_other_opt_out_ways_in_the_authors_text_are_refused(
    admin_client, make_campaign, outbox, language
):
    sentence = OTHER_WAYS[language]
    campaign = make_campaign(body=f"Our spring range is in.\n\n{sentence}")
    expected = f"the message offers another way to unsubscribe (\u201c{sentence}\u201d)"
    problems = campaigns.message_problems(campaign, language)
    assert [p.split(": remove")[0] for p in problems] == [expected]
    assert "GBA decision 19/2021" in problems[0]
    shown = admin_client.post(
        "/admin/campaigns/preview",
        data={"subject": "S", "body_markdown": campaign.body_markdown, "topic": "newsletter",
              "sample": f"lang:{language}"},
    ).json  # fmt: skip
    assert any(p.startswith(expected) for p in shown["problems"])
    with pytest.raises(campaigns.CampaignError, match=re.escape(expected)):
        campaigns.start_sending(campaign)
    db.session.rollback()
    assert outbox() == []
    assert compliance.other_opt_out_ways(FINE[language]) == []
    assert campaigns.message_problems(make_campaign(body=FINE[language]), language) == []


LOOKALIKES = {
    "en": "[Unsubscribe here](https://shop.example/newsletter/stop)",
    "nl": "[Uitschrijven](https://shop.example/afmelden)",
    "fr": "[Se désabonner](https://www.shop.example/compte)",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_lookalike_unsubscribe_links_are_refused(make_campaign, language):
    campaign = make_campaign(body=f"News.\n\n{LOOKALIKES[language]}")
    [problem] = campaigns.message_problems(campaign, language)
    assert problem.startswith("the link \u201c")
    assert "looks like an unsubscribe link but goes to https://" in problem
    assert "not to the system's unsubscribe page" in problem
    with pytest.raises(campaigns.CampaignError, match="looks like an unsubscribe link"):
        campaigns.start_sending(campaign)


def test_is_lookalike_opt_out_link():
    system = {"https://news.example.test/unsubscribe/abc"}
    assert not compliance.is_lookalike_opt_out_link(next(iter(system)), "Unsubscribe", system)
    assert compliance.is_lookalike_opt_out_link("https://x.example/", "Désinscrire", system)
    assert compliance.is_lookalike_opt_out_link("https://x.example/unsubscribe", "here", system)
    assert compliance.is_lookalike_opt_out_link("mailto:stop@x.example", "Uitschrijven", system)
    assert not compliance.is_lookalike_opt_out_link("https://x.example/spring", "Shop now", system)


# --- no tracking in the author's content --------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_tracking_pixels_are_removed_from_the_authors_text(
    make_campaign, outbox, language, make_subscriber
):
    make_subscriber("ann@example.org").locale = language
    db.session.commit()
    body = (
        "Hello.\n\n"
        '<img src="https://shop.example/o.gif?id=7" width="1" height="1" alt="">\n\n'
        "![](https://www.google-analytics.com/collect?v=1&t=event)\n\n"
        "![spy](https://tracker.example/pixel/ab12.png)\n\n"
        "![Our new spade](https://news.example.test/media/spade.jpg)"
    )
    campaign = make_campaign(body=body)
    assert messages.tracking_images_removed(body) == [
        "https://shop.example/o.gif?id=7",
        "https://www.google-analytics.com/collect?v=1&t=event",
        "https://tracker.example/pixel/ab12.png",
    ]
    assert campaigns.message_problems(campaign, language) == []
    campaigns.start_sending(campaign)
    db.session.commit()
    sending.send_pending("test-worker")
    [message] = outbox()
    page = mail_html(message)
    for tracker in ("o.gif", "google-analytics", "pixel"):
        assert tracker not in page
    assert '<img alt="Our new spade" src="https://news.example.test/media/spade.jpg"' in page


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_tracking_pixel_in_the_layout_is_refused(app, tmp_path, make_campaign, language):
    use_layout(
        app,
        tmp_path,
        default_layout().replace(
            "</div>\n</div>",
            '</div>\n<img src="https://t.example/open/7" width="1" height="1">\n</div>',
        ),
    )
    [problem] = campaigns.message_problems(make_campaign(), language)
    assert problem.startswith("the HTML part holds a tracking image (https://t.example/open/7)")
    assert "remove it from templates/email/layout.html" in problem


REDIRECTS = [
    "https://bit.ly/3xYz",
    "https://shop.example/out?url=https%3A%2F%2Fpartner.example%2F",
    "https://shop.example/r?redirect=/spring",
    "https://click.mailtool.example/track/abc123",
    "https://shop.example/click?id=5",
    "https://t.co/abc",
]


@pytest.mark.parametrize("language", LANGUAGES)
def test_redirecting_links_are_refused(make_campaign, language):
    body = "Spring is here.\n\n" + "\n\n".join(
        f"[link {i}]({url})" for i, url in enumerate(REDIRECTS)
    )
    campaign = make_campaign(body=body)
    problems = campaigns.message_problems(campaign, language)
    assert [p.split(" goes through")[0] for p in problems] == [
        f"the link to {url}" for url in REDIRECTS
    ]
    assert "link to the page itself" in problems[0]
    with pytest.raises(campaigns.CampaignError, match="goes through a redirector"):
        campaigns.start_sending(campaign)


def test_is_redirecting_link_leaves_ordinary_links_alone():
    for url in (
        "https://shop.example/spring?colour=green",
        "https://www.shop.example/products/spade",
        "https://news.example.test/view/abc",
        "mailto:info@shop.example",
        "https://reddit.com/r/gardening",
    ):
        assert not compliance.is_redirecting_link(url), url
    assert all(compliance.is_redirecting_link(url) for url in REDIRECTS)


def test_is_tracking_image():
    assert compliance.is_tracking_image("https://shop.example/a.png", "1", "1")
    assert compliance.is_tracking_image("https://shop.example/a.png", "600", "2")
    assert compliance.is_tracking_image("https://stats.wp.com/b.gif")
    assert compliance.is_tracking_image("https://shop.example/beacon?x=1")
    assert not compliance.is_tracking_image("https://shop.example/spade.jpg", "600", "400")
    assert not compliance.is_tracking_image("https://shop.example/spade.jpg")


def test_the_campaign_preview_is_shown_with_the_sample_footer(make_campaign):
    """The compose preview still shows the footer, the system's, in the chosen language."""
    shown = campaigns.preview_message(make_campaign(), None, "fr")
    assert START in shown.html
    assert UNSUBSCRIBE_WORDS["fr"] in shown.text
    assert shown.problems == []


def test_footer_constant_is_the_one_the_tests_compare(app):
    assert "the app adds the system footer itself" in FOOTER
