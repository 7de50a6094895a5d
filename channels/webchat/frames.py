"""The visitor socket's smaller frames (channels/webchat/socket.py has the protocol): the email
a visitor leaves when nobody can chat (kept as their claim: hub/contacts/claims.py), what they saw
("seen"), and their rating of a resolved conversation. Each takes the socket it came on."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from channels.webchat.away import BadEmail, check_email
from hub.ports import RejectedMessage

if TYPE_CHECKING:
    from channels.webchat.socket import VisitorSocket

logger = logging.getLogger(__name__)
MAX_EVENT_ID = 2**63 - 1


async def email(sock: VisitorSocket, frame: dict[str, Any]) -> None:
    """The visitor left an email address (nobody could chat): kept as their claim, unproven
    (hub/contacts/claims.py), so a later reply in their chat can reach them by email; before
    their first message it is claimed right after it. Only while nobody can chat, within the
    message budget; a new address replaces the old."""
    if sock.told is None or sock.told.get("open"):
        await sock.error("rejected", "email: someone can chat now", field="email")
        return
    try:
        email = check_email(frame.get("email"))
    except BadEmail as exc:
        await sock.error("invalid", str(exc), field="email")
        return
    wait = max(sock.channel.visitor_messages.take((sock.scope, sock.ref)),
               sock.channel.address_messages.take(sock.address))
    if wait > 0:
        await sock.error("rate_limited", "too many addresses: wait a moment", field="email",
                          retry_after=round(wait, 1))
        return
    sock.claim = email
    if sock.contact_id is not None and not await claim(sock):
        await sock.error("unavailable", "not kept: try again", field="email")
        return
    await sock.send({"type": "email_ok", "email": email})


async def claim(sock: VisitorSocket) -> bool:
    """Keep the address the visitor typed (`sock.claim`) as their claim; False if it failed."""
    email, sock.claim = sock.claim, None
    if email is None:
        return True
    try:
        await sock.port.claim_email_async(sock.scope, sock.ref, email)
    except Exception:
        logger.exception("web chat email of widget %s not kept", sock.widget.id)
        return False
    return True


async def seen(sock: VisitorSocket, frame: dict[str, Any]) -> None:
    """The visitor saw the agents' replies up to a message: agents see them marked "Seen". Only
    for their own conversations, forward only, and within the typing budget (a hint's cost)."""
    conversation_id, upto = frame.get("conversation_id"), frame.get("upto")
    if not isinstance(conversation_id, int) or not isinstance(upto, int) or not 0 < upto <= MAX_EVENT_ID:
        await sock.error("invalid", "seen: conversation_id and upto are message ids", field="upto")
        return
    if conversation_id not in sock.conversations or upto <= sock.reported.get(conversation_id, 0):
        return
    if sock.channel.typing_limit.take((sock.scope, sock.ref)) > 0:
        return  # reported again with the next reply shown
    sock.reported[conversation_id] = upto
    await sock.port.customer_read_async(conversation_id, upto)


async def rate(sock: VisitorSocket, frame: dict[str, Any]) -> None:
    """The visitor rates one of their resolved conversations (hub/conversations/ratings.py)."""
    conversation_id, score = frame.get("conversation_id"), frame.get("score")
    comment = frame.get("comment") or None
    if conversation_id not in sock.conversations or sock.contact_id is None:
        await sock.error("invalid", "conversation_id: not one of yours", field="rating")
        return
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5 or not (
            comment is None or isinstance(comment, str)):
        await sock.error("invalid", "score: 1 to 5; comment: text", field="rating")
        return
    if sock.channel.visitor_messages.take((sock.scope, sock.ref)) > 0:
        await sock.error("rate_limited", "too many ratings: wait a moment", field="rating", retry_after=10)
        return
    try:
        await sock.port.rate_conversation_async(sock.contact_id, conversation_id, score, comment)
    except RejectedMessage as exc:
        await sock.error("rejected", str(exc), field="rating")
        return
    await sock.send({"type": "rated", "conversation_id": conversation_id})
