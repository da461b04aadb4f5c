"""Every email the service sends is rendered here, from the one folder ``app/templates/email``.

A template ``NAME.txt`` holds the subject (``{% block subject %}``) and the plain-text body;
``NAME.html`` the HTML body (autoescaped). Both extend a layout that adds the greeting and signature.
Names chosen by customers (organizations, users) pass through the ``plain`` filter: they are shown as
text, and anything that looks like a link is broken up so that a mail client does not make it one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from app.domain.money import format_amount

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
TEMPLATE_DIR = TEMPLATES / "email"
DOCUMENT_DIR = TEMPLATES / "documents"  # printable pages (receipts), not emails
MAX_SUBJECT = 200

# scheme:// links, www. hosts and bare domain names with a dot before a known-looking TLD part
_LINKISH = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://|www\.|[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}\b)")


@dataclass(frozen=True)
class RenderedEmail:
    """What the outbox stores: the subject and both bodies, and the template that made them."""

    template: str
    subject: str
    text: str
    html: str


def plain(value: object, limit: int = 80) -> str:
    """A customer-chosen name as inert text: one line, trimmed, links neutralised (``evil[.]example``)."""
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _LINKISH.sub(lambda m: m.group(0).replace("://", "[:]//").replace(".", "[.]"), text)


def dollars(nanos: int) -> str:
    """An amount as an email shows it, e.g. ``$12.50``."""
    text = format_amount(nanos)
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


def _environment(folder: Path, html: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(["html"]) if html else False,
        undefined=StrictUndefined,  # a missing variable is a bug, not an empty line in a customer's email
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["plain"] = plain
    env.filters["dollars"] = dollars
    env.filters["utc"] = lambda at: f"{at:%Y-%m-%d %H:%M} UTC"
    return env


@cache
def _environments() -> tuple[Environment, Environment, Environment]:
    return (
        _environment(TEMPLATE_DIR, html=False),
        _environment(TEMPLATE_DIR, html=True),
        _environment(DOCUMENT_DIR, html=True),
    )


def template_names() -> list[str]:
    """The emails the service can send: each has NAME.txt and NAME.html (layouts start with ``_``)."""
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.txt") if not p.name.startswith("_"))


def render(name: str, **context: Any) -> RenderedEmail:
    """Render the email ``name`` with ``context``: subject, text and HTML."""
    text_env, html_env, _ = _environments()
    text_template = text_env.get_template(f"{name}.txt")
    subject_block = text_template.blocks["subject"]
    subject = " ".join("".join(subject_block(text_template.new_context(context))).split())
    return RenderedEmail(
        template=name,
        subject=subject[:MAX_SUBJECT],
        text=text_template.render(context),
        html=html_env.get_template(f"{name}.html").render(context),
    )


def render_document(name: str, **context: Any) -> str:
    """Render the printable HTML page ``name`` (app/templates/documents/NAME.html)."""
    return _environments()[2].get_template(f"{name}.html").render(context)
