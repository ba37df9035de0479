"""NEWSLETTER_BASE_URL at start: plain http only for this machine (SPEC: BASE_URL).

A non-loopback http BASE_URL with an SMTP server set refuses to start, naming the
variable and saying what to do; a loopback one (a local trial, a local mail catcher)
starts. Checked on the factory and on the real `flask run` command.
"""

from __future__ import annotations

import logging

import pytest

from newsletter import create_app, links
from newsletter.config import ConfigurationError
from tests.flask_process import clean_env, flask, wait_until_serving
from tests.helpers import free_port


def make_app(tmp_path, **config):
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'config.db'}",
            "AUTO_UPGRADE_SQLITE": False,
            "SECRET_KEY": "a-configured-key",
            **config,
        }
    )


def test_a_plain_http_base_url_on_another_host_with_smtp_refuses_to_start(tmp_path):
    with pytest.raises(ConfigurationError) as refused:
        make_app(tmp_path, BASE_URL="http://news.example.org", MAIL_SERVER="smtp.example.org")
    message = str(refused.value)
    assert message.startswith("NEWSLETTER_BASE_URL is http://news.example.org")
    assert "export NEWSLETTER_BASE_URL=https://news.example.org" in message  # what to do
    assert "127.0.0.1, localhost, [::1]" in message  # and where http is fine


def test_flask_run_with_a_plain_http_base_url_and_smtp_says_why_and_exits(tmp_path):
    env = clean_env(
        NEWSLETTER_INSTANCE_PATH=str(tmp_path / "instance"),
        NEWSLETTER_BASE_URL="http://news.example.org",
        NEWSLETTER_MAIL_SERVER="smtp.example.org",
        NEWSLETTER_SECRET_KEY="a-configured-key",
    )
    log = tmp_path / "run.log"
    with flask(["run", "--port", str(free_port())], env, log) as server:
        assert server.wait(30) == 1
    output = log.read_text()
    assert "Error: NEWSLETTER_BASE_URL is http://news.example.org" in output
    assert "https" in output
    assert "Traceback" not in output  # a plain message, not a stack trace


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:5000", "http://localhost:8025", "http://[::1]:5000"]
)
def test_a_loopback_http_base_url_with_smtp_starts(tmp_path, base_url):
    app = make_app(tmp_path, BASE_URL=base_url, MAIL_SERVER="127.0.0.1")
    assert app.config["BASE_URL"] == base_url
    assert links.is_loopback_url(base_url)


def test_flask_run_with_a_loopback_base_url_and_a_local_mail_catcher_serves(tmp_path, smtp_server):
    port = free_port()
    env = clean_env(
        NEWSLETTER_INSTANCE_PATH=str(tmp_path / "instance"),
        NEWSLETTER_BASE_URL=f"http://127.0.0.1:{port}",
        NEWSLETTER_MAIL_SERVER=smtp_server.host,
        NEWSLETTER_MAIL_PORT=str(smtp_server.port),
        NEWSLETTER_SECRET_KEY="a-configured-key",
    )
    log = tmp_path / "run.log"
    with flask(["run", "--port", str(port)], env, log) as server:
        wait_until_serving(f"http://127.0.0.1:{port}/subscribe", server, log)


def test_an_https_base_url_with_smtp_starts(tmp_path):
    app = make_app(tmp_path, BASE_URL="https://news.example.org/", MAIL_SERVER="smtp.example.org")
    assert app.config["BASE_URL"] == "https://news.example.org"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_a_plain_http_base_url_without_smtp_starts_with_a_warning(tmp_path, caplog):
    """No SMTP server: nothing leaves the machine, so it starts, and says what will happen."""
    with caplog.at_level(logging.WARNING, logger="newsletter.config"):
        make_app(tmp_path, BASE_URL="http://news.example.org", MAIL_SERVER=None)
    assert "NEWSLETTER_BASE_URL http://news.example.org is plain http" in caplog.text


@pytest.mark.parametrize("base_url", ["news.example.org", "ftp://news.example.org", "https://"])
def test_a_base_url_that_is_not_a_web_address_refuses_to_start(tmp_path, base_url):
    with pytest.raises(ConfigurationError, match="NEWSLETTER_BASE_URL .* not a web address"):
        make_app(tmp_path, BASE_URL=base_url)


@pytest.mark.parametrize(
    "base_url", ["http://127.example.org", "http://localhost.example.org", "http://10.0.0.1"]
)
def test_a_name_that_only_looks_like_loopback_is_not_loopback(tmp_path, base_url):
    assert not links.is_loopback_url(base_url)
    with pytest.raises(Exception, match="NEWSLETTER_BASE_URL"):
        make_app(tmp_path, BASE_URL=base_url, MAIL_SERVER="127.0.0.1")
