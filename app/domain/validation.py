"""Checks of outside input shared by every area; each raises InvalidInput naming the field."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from app.domain.errors import ErrorCode, InvalidInput

MAX_NAME_LENGTH = 100
MAX_EMAIL_LENGTH = 254


def clean_text(value: str, *, field: str, max_length: int, required: bool = True) -> str:
    """One line of text: white space folded, not too long, no control characters, empty only where allowed."""
    text = " ".join(value.split())
    if required and not text:
        raise InvalidInput(f"The {field} must not be empty.", code=ErrorCode.REQUIRED, field=field)
    if len(text) > max_length:
        raise InvalidInput(
            f"The {field} must be at most {max_length} characters.", code=ErrorCode.TOO_LONG, field=field
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InvalidInput(f"The {field} contains control characters.", field=field)
    return text


def clean_name(value: str, *, field: str = "name", max_length: int = MAX_NAME_LENGTH) -> str:
    """A display name: trimmed, not empty, not too long, no control characters."""
    return clean_text(value, field=field, max_length=max_length)


def normalize_email(value: str, *, field: str = "email") -> str:
    """A syntactically valid address, normalized and lower-cased so that comparisons ignore case."""
    candidate = value.strip()
    if len(candidate) > MAX_EMAIL_LENGTH:
        raise InvalidInput("The email address is too long.", code=ErrorCode.INVALID_EMAIL, field=field)
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(
            f"'{candidate[:80]}' is not a valid email address: {exc}",
            code=ErrorCode.INVALID_EMAIL,
            field=field,
        ) from None
    return result.normalized.lower()
