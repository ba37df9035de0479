"""CSRF protection of the admin forms, with Flask-WTF's check switched on."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import Topic
from tests.helpers import ADMIN_EMAIL, ADMIN_PASSWORD


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def csrf_token(page_text: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page_text).group(1)


def test_login_without_csrf_token_is_refused(client, admin_user):
    response = client.post("/admin/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_admin_forms_need_the_csrf_token(client, admin_user):
    token = csrf_token(client.get("/admin/login").text)
    response = client.post(
        "/admin/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    forged = client.post("/admin/topics", data={"slug": "offers", "name": "Offers"})
    assert forged.status_code == 400
    assert db.session.scalar(select(Topic).where(Topic.slug == "offers")) is None
    token = csrf_token(client.get("/admin/topics").text)
    done = client.post(
        "/admin/topics", data={"slug": "offers", "name": "Offers", "csrf_token": token}
    )
    assert done.status_code == 302, done.text
    assert db.session.scalar(select(Topic).where(Topic.slug == "offers")) is not None
    assert client.post("/admin/logout").status_code == 400  # no token: refused, still in
    assert client.get("/admin/").status_code == 200
