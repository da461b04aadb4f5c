"""Every module that registers jobs: importing them fills the registry of app.jobs.base."""

from __future__ import annotations

from app.jobs import billing, credits, subscriptions  # noqa: F401
