"""Topics: list, create, edit (name, description, own-similar-products flag and product
range). The domain functions write the audit entries (who, when, what changed)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from ... import listings
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
            flash(f"Topic “{topic.name}” created.")
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
        except topic_domain.TopicError as exc:
            db.session.rollback()
            _show_error(form, exc, slug_field=False)
        else:
            db.session.commit()
            flash("Topic saved." if changes else "Nothing changed.")
            return redirect(url_for("admin.topics"))
    status = 400 if form.errors else 200
    return render_template("admin/topic_edit.html", topic=topic, form=form), status


def _show_error(form: TopicForm, exc: Exception, slug_field: bool = True) -> None:
    """The domain's refusal beside the field it is about."""
    message = str(exc)
    if "product range" in message:
        form.product_range.errors.append(message)
    elif slug_field and ("slug" in message.lower()):
        form.slug.errors.append(message)
    else:
        form.name.errors.append(message)
