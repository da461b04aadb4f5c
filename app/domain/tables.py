"""Imports every area's table models so that SQLModel.metadata (and Alembic) sees them all."""

from app.domain.accounts.models import AuthSession, AuthThrottle, PasswordReset, User
from app.domain.api_keys.models import ApiKey
from app.domain.billing.models import BillingAccount, Charge, PaymentMethod
from app.domain.credits.models import (
    AutoRechargeAttempt,
    CreditAccount,
    CreditConsumption,
    CreditGrant,
    CreditLedgerEntry,
    RefundRequest,
)
from app.domain.invitations.models import Invitation, InvitationProject
from app.domain.notifications.models import (
    AlertSettings,
    BillingContact,
    MemberNoticePreference,
    OutboxMessage,
    SpendAlert,
    SpendAlertFiring,
)
from app.domain.orgs.models import Membership, Organization
from app.domain.plans.models import ModelLimitOverride
from app.domain.projects.models import Project, ProjectMembership, ProjectRateLimit
from app.domain.provider_events.models import ChargeDispute, ChargeRefund, ProcessedWebhookEvent
from app.domain.receipts.models import DocumentLinkKey, Receipt, ReceiptCounter
from app.domain.subscriptions.models import Subscription, TierCapacity
from app.domain.usage.models import (
    UsageDay,
    UsageDayByKey,
    UsageDayByModel,
    UsageHour,
    UsageHourByKey,
    UsageHourByModel,
    UsageMinute,
    UsageRecord,
    UsageRollupPending,
)
from app.fleet.models import AdmissionKey, OrganizationVersion
from app.jobs.models import JobLease

__all__ = [
    "AdmissionKey",
    "AlertSettings",
    "ApiKey",
    "AuthSession",
    "AuthThrottle",
    "BillingContact",
    "AutoRechargeAttempt",
    "BillingAccount",
    "Charge",
    "ChargeDispute",
    "ChargeRefund",
    "CreditAccount",
    "CreditConsumption",
    "CreditGrant",
    "CreditLedgerEntry",
    "Invitation",
    "JobLease",
    "InvitationProject",
    "MemberNoticePreference",
    "Membership",
    "ModelLimitOverride",
    "Organization",
    "OrganizationVersion",
    "OutboxMessage",
    "PasswordReset",
    "PaymentMethod",
    "ProcessedWebhookEvent",
    "Project",
    "ProjectMembership",
    "ProjectRateLimit",
    "Receipt",
    "ReceiptCounter",
    "DocumentLinkKey",
    "RefundRequest",
    "SpendAlert",
    "SpendAlertFiring",
    "Subscription",
    "TierCapacity",
    "UsageDay",
    "UsageDayByKey",
    "UsageDayByModel",
    "UsageHour",
    "UsageHourByKey",
    "UsageHourByModel",
    "UsageMinute",
    "UsageRecord",
    "UsageRollupPending",
    "User",
]
