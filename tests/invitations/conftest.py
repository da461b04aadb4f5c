"""Invitation tests send real email to a local SMTP server."""

from tests.mail_server import smtp_server, smtp_settings

__all__ = ["smtp_server", "smtp_settings"]
