"""Twilio's message statuses in the hub's words (hub.ports.DeliveryUpdate.status)."""

from __future__ import annotations

TWILIO_TO_HUB: dict[str, str] = {
    "accepted": "queued",  # a Messaging Service took it and is choosing a sender
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
    "read": "read",
}


def hub_status(twilio_status: str | None) -> str | None:
    """None for statuses that say nothing about an outgoing message's fate (receiving, received)."""
    return TWILIO_TO_HUB.get((twilio_status or "").strip().lower())
