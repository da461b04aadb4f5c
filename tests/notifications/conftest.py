"""Mail delivery tests talk to a real SMTP server on 127.0.0.1."""

from tests.mail_server import smtp_server, smtp_settings

__all__ = ["smtp_server", "smtp_settings"]
