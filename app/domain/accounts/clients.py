"""Who is on the other end of a request: the client address (behind a trusted proxy too) and user agent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MAX_USER_AGENT = 255
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Client:
    """The client of a request, as the abuse limits and the session list see it."""

    address: str = UNKNOWN
    user_agent: str = ""


def client_of(
    headers: Mapping[str, str], peer: str | None, *, trusted_header: str | None, trusted_hops: int = 1
) -> Client:
    """The client: the peer address, or the entry a trusted proxy added to ``trusted_header``.

    Behind ``trusted_hops`` proxies that each append to X-Forwarded-For, the client is the
    ``trusted_hops``-th entry from the right; entries further left are whatever the client sent.
    """
    address = peer or UNKNOWN
    if trusted_header:
        entries = [e.strip() for e in headers.get(trusted_header.lower(), "").split(",") if e.strip()]
        if len(entries) >= trusted_hops:
            address = entries[-trusted_hops]
    agent = " ".join(headers.get("user-agent", "").split())[:MAX_USER_AGENT]
    return Client(address=address[:64], user_agent=agent)


NO_CLIENT = Client()  # a call from inside the service (the CLI, a test), not from the network
