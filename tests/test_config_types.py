"""Configuration is typed once, when it is loaded (newsletter/config.py `TYPES`): numbers,
yes/no values and lists arrive converted, and a value of the wrong type stops the start
with a message naming the variable, instead of failing later in the middle of a send."""

from __future__ import annotations

import pytest

from newsletter import create_app
from newsletter.config import ConfigurationError
from tests.flask_process import clean_env, flask


def make_app(tmp_path, monkeypatch, **environment):
    for key, value in environment.items():
        monkeypatch.setenv(f"NEWSLETTER_{key}", value)
    return create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'c.db'}", "AUTO_UPGRADE_SQLITE": False}
    )


def test_settings_arrive_typed(tmp_path, monkeypatch):
    app = make_app(
        tmp_path,
        monkeypatch,
        SEND_RATE="2.5",
        SEND_LEASE_SECONDS="60",
        MAIL_USE_TLS="yes",
        OWN_DOMAINS='["shop.example"]',
        BOUNCE_MAILBOX_PORT="",
    )
    assert app.config["SEND_RATE"] == 2.5
    assert app.config["SEND_LEASE_SECONDS"] == 60.0
    assert app.config["MAIL_USE_TLS"] is True
    assert app.config["OWN_DOMAINS"] == ["shop.example"]
    assert app.config["BOUNCE_MAILBOX_PORT"] is None  # optional: empty is unset
    assert app.config["MAIL_TIMEOUT"] == 30.0  # the default, typed


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SEND_RATE", "abc"),
        ("SEND_BATCH_SIZE", "1.5"),
        ("MAIL_USE_TLS", "maybe"),
        ("PROCESSORS", '{"name": "x"}'),
    ],
)
def test_a_bad_value_stops_the_start_naming_the_variable(tmp_path, monkeypatch, key, value):
    with pytest.raises(ConfigurationError) as refused:
        make_app(tmp_path, monkeypatch, **{key: value})
    assert str(refused.value).startswith(f"NEWSLETTER_{key} is ")


def test_flask_says_which_setting_is_wrong_and_exits(tmp_path):
    env = clean_env(NEWSLETTER_INSTANCE_PATH=str(tmp_path / "instance"), NEWSLETTER_SEND_RATE="abc")
    log = tmp_path / "worker.log"
    with flask(["jobs", "run-due"], env, log) as command:
        assert command.wait(60) != 0
    output = log.read_text()
    assert "Error: NEWSLETTER_SEND_RATE is 'abc', which is not a number" in output
    assert "Traceback" not in output
