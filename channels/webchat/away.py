"""When nobody can chat (issue 16): outside the widget's business hours, or with no agent of its
team online, the widget says so, still takes messages, and asks for an email address, so a later
reply reaches the visitor by email (the adapter hands it over: channels/webchat/adapter.py).

`availability` is what the socket tells the widget (after the hello and after each message);
`check_email` validates what the visitor types with email-validator (syntax only, no DNS), as the
hub does for every address it stores.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

from channels.webchat.settings import WidgetSettings
from hub.ports import HubPort

MAX_EMAIL = 254


class BadEmail(ValueError):
    pass


def check_email(value: object) -> str:
    """The address as typed (trimmed, its domain normalized), or BadEmail."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_EMAIL or "\x00" in value:
        raise BadEmail("email: not an email address")
    try:
        return str(validate_email(value.strip(), check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise BadEmail(f"email: {exc}") from None


async def availability(port: HubPort, widget: WidgetSettings, now: datetime | None = None) -> dict[str, Any]:
    """`{"type": "availability", "open", "reason"}`: reason "closed" (outside business hours),
    "no_agents" (nobody of the widget's team online) or null when open."""
    if widget.business_hours is not None and not widget.business_hours.is_open_at(now):
        reason: str | None = "closed"
    elif await port.agents_online_async(widget.team) == 0:
        reason = "no_agents"
    else:
        reason = None
    return {"type": "availability", "open": reason is None, "reason": reason}
