"""The subscriber's journey: signup, confirm, preferences, opt-out (erasure), export,
rectification. One module per step; this package re-exports their public names.

Domain functions flush, never commit: the view, command or job that calls them commits,
and system mails leave after that commit (see mailer.send_after_commit).
"""

from __future__ import annotations

from ..people import mark_for_secure_cleanup, scrub_replies, suppress
from .core import (
    Evidence,
    InertLinkError,
    NotFoundError,
    OptOut,
    OptOutResult,
    add_consent_text,
    consent_text_languages_missing,
    current_consent_text,
    displayed_consent_text,
    find_subscriber,
    public_topics,
    record_consent,
    record_event,
    subscriber_by_public_id,
    topic_wording,
    topics_by_slug,
)
from .export import (
    event_json,
    export_data,
)
from .preferences import (
    erase,
    link_target,
    subscriber_from_link,
    subscriber_of,
    unsubscribe_all,
    update_preferences,
)
from .rectification import (
    AddressTakenError,
    address_changes,
    approve_address_change,
    change_to_approve,
    confirm_address_change,
    correct_details,
    pending_address_change,
    rectify,
    request_address_change,
)
from .signup import (
    confirm_signup,
    pending_confirmation,
    purge_unconfirmed,
    request_signup,
    resend_confirmation,
    send_confirmation,
    start_reconsent_clock,
)

__all__ = [
    "NotFoundError",
    "InertLinkError",
    "OptOut",
    "OptOutResult",
    "Evidence",
    "current_consent_text",
    "displayed_consent_text",
    "consent_text_languages_missing",
    "add_consent_text",
    "topic_wording",
    "public_topics",
    "topics_by_slug",
    "find_subscriber",
    "subscriber_by_public_id",
    "record_consent",
    "record_event",
    "request_signup",
    "send_confirmation",
    "pending_confirmation",
    "confirm_signup",
    "start_reconsent_clock",
    "resend_confirmation",
    "purge_unconfirmed",
    "link_target",
    "subscriber_of",
    "subscriber_from_link",
    "update_preferences",
    "unsubscribe_all",
    "erase",
    "export_data",
    "event_json",
    "AddressTakenError",
    "address_changes",
    "rectify",
    "correct_details",
    "request_address_change",
    "change_to_approve",
    "approve_address_change",
    "pending_address_change",
    "confirm_address_change",
    "mark_for_secure_cleanup",
    "scrub_replies",
    "suppress",
]
