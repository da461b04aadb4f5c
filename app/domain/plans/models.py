"""Staff's custom terms: an organization's own limits for a model, replacing the PayGo defaults."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.domain.base import UTCDateTime, utcnow
from app.domain.catalog.models import RateLimits


class ModelLimitOverride(SQLModel, table=True):
    """An organization-level override of a model's PayGo limits, with who set it and when."""

    __tablename__ = "model_limit_override"

    organization_id: str = Field(
        foreign_key="organization.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    model_id: str = Field(primary_key=True, max_length=100)
    requests_per_minute: int
    tokens_per_minute: int
    requests_per_hour: int | None = None
    tokens_per_hour: int | None = None
    requests_per_day: int | None = None
    tokens_per_day: int | None = None
    set_by: str = Field(max_length=40)
    set_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    def limits(self) -> RateLimits:
        return RateLimits(
            requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute,
            requests_per_hour=self.requests_per_hour,
            tokens_per_hour=self.tokens_per_hour,
            requests_per_day=self.requests_per_day,
            tokens_per_day=self.tokens_per_day,
        )
