"""Apply the Alembic migrations: the only way the service's schema is created or changed."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from app.settings import REPO_ROOT


def alembic_config(database_url: str) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    """Bring the database to the newest revision (no-op when it is there already)."""
    from app.db import Database

    Database(database_url)  # creates the SQLite file's folder
    command.upgrade(alembic_config(database_url), "head")
