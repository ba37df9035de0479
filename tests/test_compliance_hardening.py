"""The bounce and complaint rules of compliance.py, each tested under its own name."""

from __future__ import annotations

import pytest

from newsletter import compliance
from newsletter.models import Channel


def test_complaint_objection_channels():
    assert set(compliance.complaint_objection_channels()) == set(Channel.ALL)


def test_bounce_suppression_channels():
    assert compliance.bounce_suppression_channels() == (Channel.EMAIL,)


@pytest.mark.parametrize(
    ("hard", "any_bounce", "hard_limit", "soft_limit", "expected"),
    [
        (1, 1, 1, 3, True),  # one hard bounce, default limit 1
        (0, 2, 1, 3, False),  # two soft bounces in a row: not yet
        (0, 3, 1, 3, True),  # the third soft one
        (1, 1, 2, 3, False),  # hard limit raised to 2
        (2, 2, 2, 3, True),
        (5, 5, 0, 0, False),  # limits 0: never (operator turned it off)
    ],
)
def test_suppress_after_bounces(hard, any_bounce, hard_limit, soft_limit, expected):
    assert compliance.suppress_after_bounces(hard, any_bounce, hard_limit, soft_limit) is expected


@pytest.mark.parametrize(
    ("complaints", "sent", "level"),
    [
        (0, 0, "ok"),
        (0, 1000, "ok"),
        (1, 1001, "ok"),  # 0.0999 %
        (1, 1000, "warning"),  # 0.1 %
        (2, 1000, "warning"),
        (3, 1000, "pause"),  # 0.3 %
        (1, 10, "pause"),
    ],
)
def test_complaint_rate_level(complaints, sent, level):
    assert compliance.complaint_rate_level(complaints, sent) == level
