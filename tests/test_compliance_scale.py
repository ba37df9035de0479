"""The bulk forms of rule 3 that the sender uses (one query for many recipients)."""

from __future__ import annotations

from sqlalchemy import select

from newsletter import compliance, subscriptions
from newsletter.addresses import address_hash
from newsletter.extensions import db
from newsletter.models import Channel


def test_objected_hashes(app):
    objected, by_post, free = (address_hash(f"{n}@example.org") for n in ("a", "b", "c"))
    subscriptions.suppress(objected, "objection", [Channel.EMAIL])
    subscriptions.suppress(by_post, "objection", [Channel.POST])
    db.session.commit()

    assert compliance.objected_hashes({objected, by_post, free}) == {objected}
    assert compliance.objected_hashes({objected, by_post}, Channel.POST) == {by_post}
    assert compliance.objected_hashes(set()) == set()


def test_objection_exists(app):
    objected, free = address_hash("a@example.org"), address_hash("c@example.org")
    subscriptions.suppress(objected, "unsubscribed", Channel.ALL)
    db.session.commit()

    def ask(digest, channel=Channel.EMAIL):
        return db.session.scalar(select(compliance.objection_exists(digest, channel)))

    assert ask(objected) is True
    assert ask(objected, Channel.SMS) is True
    assert ask(free) is False
    assert compliance.is_objected(objected)
    assert not compliance.is_objected(free)
