"""One settings object, read from the environment once and cached."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Service configuration; every field maps to an upper-case environment variable."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{REPO_ROOT / 'var' / 'billing.sqlite3'}",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db",
    )
    public_url: str = "http://127.0.0.1:8000"
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    graphql_introspection: bool = True
    graphql_ide: bool = True
    session_ttl_hours: int = Field(default=24 * 14, ge=1)
    password_min_length: int = Field(default=12, ge=8)
    sign_in_max_failures: int = Field(default=5, ge=1)
    sign_in_lockout_minutes: int = Field(default=15, ge=1)
    sign_in_client_max_failures: int = Field(
        default=20, ge=1, description="Failed sign-ins per client address per lockout window before delays"
    )
    sign_up_client_per_hour: int = Field(default=10, ge=1, description="Sign-ups per client address per hour")
    password_reset_ttl_minutes: int = Field(default=60, ge=5, le=24 * 60)
    password_reset_per_address_per_hour: int = Field(default=3, ge=1)
    password_reset_client_per_hour: int = Field(default=10, ge=1)
    trusted_proxy_header: str | None = Field(
        default=None,
        description="Header a trusted proxy sets to the client address (e.g. X-Forwarded-For); unset: the peer",
    )
    trusted_proxy_hops: int = Field(
        default=1,
        ge=1,
        description="Proxies that append to that header: the client is this many from the right",
    )
    document_link_key: SecretStr | None = Field(
        default=None,
        description="Key signing receipt and statement links (default: one made once and kept in the database)",
    )
    document_link_ttl_hours: int = Field(default=72, ge=1, le=24 * 90)
    graphql_max_depth: int = 12
    graphql_max_aliases: int = 30
    graphql_max_tokens: int = Field(default=1000, ge=100, description="Tokens of a GraphQL document")
    graphql_max_document_chars: int = Field(
        default=10_000,
        ge=1_000,
        description="Characters of a GraphQL document, white space and comments included",
    )
    graphql_max_cost: int = Field(
        default=200_000,
        ge=100,
        description="Fields of a document times the list sizes it asks for (first/last)",
    )
    graphql_max_repeats: int = Field(
        default=10, ge=2, description="Times one field is asked for in one selection"
    )
    graphql_max_body_bytes: int = Field(
        default=32_768, ge=4_096, description="Bytes of a request body to /graphql"
    )
    graphql_cache_bytes: int = Field(
        default=32 * 1024 * 1024, ge=0, description="Memory for parsed and validated documents (per app)"
    )
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="json: one JSON object a line; text: for people; auto: text on a terminal"
    )
    access_log: bool = Field(default=True, description="One log line per HTTP request (app.access)")
    metrics_enabled: bool = Field(default=True, description="Count and serve Prometheus metrics at /metrics")
    metrics_token: SecretStr | None = Field(
        default=None, description="When set, /metrics answers only `Authorization: Bearer <token>`"
    )
    tracing_enabled: bool = Field(
        default=False, description="OpenTelemetry tracing, exported over OTLP (OTEL_EXPORTER_OTLP_* settings)"
    )
    tracing_sample_ratio: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Share of requests traced (a caller's sampled trace is followed)",
    )
    catalog_path: Path | None = Field(
        default=None, description="Model catalog TOML; default: the one in the app"
    )
    jobs_enabled: bool = Field(default=True, description="Run the periodic jobs inside the server")
    # the inference fleet's API
    fleet_token: SecretStr | None = Field(
        default=None, description="Service token of the fleet; unset: fleet API refused"
    )
    fleet_admission_key: SecretStr | None = Field(
        default=None,
        description="Key signing admission ids; required with REDIS_URL (shared by the replicas)",
    )
    fleet_admission_previous_key: SecretStr | None = Field(
        default=None, description="The key FLEET_ADMISSION_KEY replaced: its ids verify until removed"
    )
    admission_ttl_seconds: int = Field(default=600, ge=10, description="Reserved tokens come back after this")
    fleet_timeout_seconds: float = Field(
        default=5,
        gt=0,
        description="A fleet call not answered within this gets 503 (service_unavailable_error)",
    )
    fleet_cache_max_age_seconds: float = Field(
        default=60, gt=0, description="Cached keys and organizations are reloaded at least this often"
    )
    fleet_change_poll_seconds: float = Field(
        default=0.5, gt=0, description="SQLite: how often organization versions are polled for changes"
    )
    usage_rollup_seconds: float = Field(
        default=1.0, gt=0, description="How often usage is folded into the graphs' roll-ups"
    )
    database_connect_timeout_seconds: float = Field(
        default=3, gt=0, description="Connecting, or waiting for a pooled connection, fails after this"
    )
    database_statement_timeout_seconds: float = Field(
        default=10, gt=0, description="A statement the database does not answer within this fails"
    )
    shutdown_grace_seconds: float = Field(
        default=30, ge=0, description="On SIGTERM: time to finish requests and drain usage before exiting"
    )
    redis_url: str | None = Field(
        default=None, description="Redis for what replicas share; unset: one process"
    )
    plugins_toml: Path | None = Field(
        default=None,
        description="Payment plugins configuration; default: $PLUGINS_TOML, else the repository's",
    )
    # PayGo credits (amounts in US cents)
    credits_purchase_min_cents: int = Field(default=1_000, ge=1, description="Smallest credit purchase ($10)")
    credits_purchase_max_cents: int = Field(
        default=1_000_000, ge=1, description="Largest credit purchase ($10,000)"
    )
    credits_min_charge_cents: int = Field(
        default=50,
        ge=1,
        description="Smallest automatic charge (auto-recharge, debt settlement): providers' floor",
    )
    credits_low_balance_alert_cents: int = Field(
        default=500, ge=0, description="Org Admins are emailed once when the balance drops below this"
    )
    credits_settlement_retry_hours: int = Field(
        default=24, ge=1, description="Wait before retrying a failed settlement"
    )
    credits_settlement_max_attempts: int = Field(
        default=4, ge=1, description="Settlement charges per month at most"
    )
    # invitations
    invitation_ttl_days: int = Field(default=7, ge=1, le=90, description="Days an invitation link is valid")
    invitations_per_organization_per_day: int = Field(
        default=200,
        ge=1,
        description="Invitation emails (first sends and resends) an organization sends in 24 h",
    )
    invitations_per_sender_per_day: int = Field(
        default=200, ge=1, description="Invitations one person sends in 24 h, over all their organizations"
    )
    invitations_per_new_sender_per_day: int = Field(
        default=50,
        ge=1,
        description="The same while the sender's account is new (INVITATION_NEW_SENDER_DAYS)",
    )
    invitation_new_sender_days: int = Field(default=7, ge=0, description="How long an account counts as new")
    # subscriptions
    subscription_renewal_retries: int = Field(
        default=3,
        ge=0,
        le=30,
        description="Daily retries of a failed renewal before the subscription is canceled",
    )
    # mail: SMTP when SMTP_HOST is set, otherwise the outbox and the log are the delivery
    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, description="Default: 465 with SMTP_TLS, else 587")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool | None = Field(default=None, description="Unset: when offered; true: required")
    smtp_tls: bool = Field(default=False, description="Implicit TLS from the first byte (port 465)")
    smtp_timeout_seconds: float = Field(default=30, gt=0)
    mail_from: str = "Inference Cloud <no-reply@localhost>"
    mail_worker: bool = Field(default=True, description="Run the mail delivery worker in this process")
    mail_max_attempts: int = Field(default=8, ge=1)
    mail_retry_seconds: int = Field(default=60, ge=1, description="First retry delay; doubles, at most 1 h")
    mail_poll_seconds: float = Field(default=15, gt=0)
    outbox_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s) sealing links inside queued emails; unset: var/outbox.key (one process)",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _one_tls_mode(self) -> Settings:
        if self.smtp_tls and self.smtp_starttls:
            raise ValueError("SMTP_TLS (implicit TLS) and SMTP_STARTTLS exclude each other; set one")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings()
