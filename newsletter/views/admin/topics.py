"""Topics: list, create, edit (name, description, own-similar-products flag and product
range). The domain functions write the audit entries (who, when, what changed)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ... import i18n, listings, topic_translations
from ... import topics as topic_domain
from ...extensions import db
from ...models import Topic
from .blueprint import bp
from .forms import TopicForm


@bp.get("/topics")
def topics():
    """Every topic with its subscriber counts."""
    return render_template("admin/topics.html", rows=listings.topic_counts(), form=TopicForm())


@bp.post("/topics")
def topic_create():
    """Create a topic; errors are shown beside the form, nothing is saved."""
    form = TopicForm()
    if form.validate_on_submit():
        try:
            topic = topic_domain.create_topic(
                form.slug.data,
                form.name.data,
                form.own_similar_products.data,
                form.description.data,
                form.product_range.data,
                actor=current_user,
            )
        except topic_domain.TopicError as exc:
            db.session.rollback()
            _show_error(form, exc)
        else:
            db.session.commit()
            flash(_("Topic “%(name)s” created.", name=topic.name))
            return redirect(url_for("admin.topics"))
    return render_template("admin/topics.html", rows=listings.topic_counts(), form=form), 400


@bp.route("/topics/<int:topic_id>", methods=["GET", "POST"])
def topic_edit(topic_id: int):
    """Edit a topic; the slug stays as it is (it is in List-Id headers already sent)."""
    topic = db.session.get(Topic, topic_id) or abort(404)
    form = TopicForm(obj=topic)
    if form.validate_on_submit():
        try:
            changes = topic_domain.update_topic(
                topic,
                form.name.data,
                form.own_similar_products.data,
                form.description.data,
                form.product_range.data,
                actor=current_user,
            )
            translated = _save_translations(topic)
        except topic_domain.TopicError as exc:
            db.session.rollback()
            _show_error(form, exc, slug_field=False)
        else:
            db.session.commit()
            flash(_("Topic saved.") if changes or translated else _("Nothing changed."))
            return redirect(url_for("admin.topics"))
    status = 400 if form.errors else 200
    return render_template(
        "admin/topic_edit.html",
        topic=topic,
        form=form,
        languages=i18n.language_choices(),
        translations=_shown_translations(topic),
    ), status


def _save_translations(topic: Topic) -> bool:
    """The name and description per language (fields `name_<code>`, `description_<code>`);
    an empty name removes that language's version. True when any changed."""
    changed = False
    for code in i18n.offered():
        if f"name_{code}" not in request.form:
            continue
        changed |= topic_translations.set_translation(
            topic,
            code,
            request.form.get(f"name_{code}", ""),
            request.form.get(f"description_{code}", ""),
            actor=current_user,
        )
    return changed


def _shown_translations(topic: Topic) -> dict[str, dict[str, str]]:
    """What the per-language fields show: the posted values after a refusal, else stored."""
    stored = topic_translations.translations(topic)
    shown = {}
    for code in i18n.offered():
        row = stored.get(code)
        shown[code] = {
            "name": request.form.get(f"name_{code}", row.name if row else ""),
            "description": request.form.get(f"description_{code}", row.description if row else ""),
        }
    return shown


def _show_error(form: TopicForm, exc: Exception, slug_field: bool = True) -> None:
    """The domain's refusal beside the field it is about."""
    message = str(exc)
    if "product range" in message:
        form.product_range.errors.append(message)
    elif slug_field and ("slug" in message.lower()):
        form.slug.errors.append(message)
    else:
        form.name.errors.append(message)
