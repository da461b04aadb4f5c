"""Every module that registers jobs, imported once by load_jobs()."""

from app.jobs import billing, credits, notifications, subscriptions  # noqa: F401
