"""Tables and status sets, one module per area (issue 14: models.py was over 400 lines).

Personal data lives in `Subscriber`, `Subscription`, `Delivery` (by reference),
`OutboxMessage` and `ConsentEvent` (IP, user agent). After an opt-out or erasure only
`Suppression`, `ConsentEvent` and `RetiredPublicId` remain, keyed by a keyed hash of the
address.

- `base`: the UTC datetime column type and the constant sets (statuses, kinds, reasons)
- `content`: topics, their translations, consent wordings, media
- `people`: subscribers, subscriptions, consent evidence, suppressions, rights requests
- `campaigns`: campaigns, language versions, deliveries, bounces, archive, figures
- `admin`: admin accounts, API tokens, audit log, breach log
- `operations`: settings, the outbox, job leases, webhooks

Every name is re-exported here: `from .models import X` is the way to import them.
"""

from .admin import (
    AdminUser,
    ApiToken,
    AuditEntry,
    BreachLogEntry,
)
from .base import (
    Basis,
    BounceKind,
    CampaignStatus,
    Channel,
    ConsentKind,
    DeliveryStatus,
    RequestKind,
    SubscriberStatus,
    SuppressionReason,
    UTCDateTime,
    new_public_id,
)
from .campaigns import (
    BounceEvent,
    Campaign,
    CampaignOptOut,
    CampaignVersion,
    Delivery,
    PublishedCampaign,
)
from .content import (
    ConsentText,
    Media,
    Topic,
    TopicTranslation,
)
from .operations import (
    JobLease,
    OutboxMessage,
    RecipientChangeCount,
    Setting,
    WebhookDelivery,
    WebhookEndpoint,
)
from .people import (
    AddressChange,
    ConfirmationSend,
    ConsentEvent,
    ImportEvidence,
    LapsedBasis,
    RetiredPublicId,
    RightsRequest,
    Subscriber,
    Subscription,
    Suppression,
)

__all__ = [
    "AddressChange",
    "AdminUser",
    "ApiToken",
    "AuditEntry",
    "Basis",
    "BounceEvent",
    "BounceKind",
    "BreachLogEntry",
    "Campaign",
    "CampaignOptOut",
    "CampaignStatus",
    "CampaignVersion",
    "Channel",
    "ConfirmationSend",
    "ConsentEvent",
    "ConsentKind",
    "ConsentText",
    "Delivery",
    "DeliveryStatus",
    "ImportEvidence",
    "JobLease",
    "LapsedBasis",
    "Media",
    "OutboxMessage",
    "PublishedCampaign",
    "RecipientChangeCount",
    "RequestKind",
    "RetiredPublicId",
    "RightsRequest",
    "Setting",
    "Subscriber",
    "SubscriberStatus",
    "Subscription",
    "Suppression",
    "SuppressionReason",
    "Topic",
    "TopicTranslation",
    "UTCDateTime",
    "WebhookDelivery",
    "WebhookEndpoint",
    "new_public_id",
]
