"""A customer's rating of their resolved conversation (CSAT): a score from 1 to 5 and an optional
comment, appended as a `conversation.rated` event (the timeline is where it lives).

Who and when (`check_rating`): only the conversation's own customer (a channel asks for them: the
web chat's visitor, whose feed showed the conversation), only while it is resolved, and once per
resolution: a second rating of the same resolution is refused (the first stands: a rating is a
reaction to how it was solved, not a vote to repeat), while a conversation reopened and resolved
again may be rated again. "Already rated" is a `conversation.rated` event after the conversation's
last status change (both are ids in the one event log, so no clock is compared).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from hub.conversations.models import Conversation
from hub.db import table_of
from hub.errors import Conflict, Forbidden, Invalid, NotFound
from hub.events import log
from hub.events.models import Event
from hub.events.types import Rated, StatusChanged

SCORES = range(1, 6)
MAX_COMMENT = 1000


def check_rating(session: Session, conversation_id: int, contact_id: int, score: object,
                 comment: object) -> tuple[Conversation, int, str | None]:
    """The conversation, the score and the cleaned comment, if this customer may rate it now."""
    if not isinstance(score, int) or isinstance(score, bool) or score not in SCORES:
        raise Invalid("score: a whole number from 1 to 5")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT or "\x00" in comment):
        raise Invalid(f"comment: at most {MAX_COMMENT} characters of text")
    conv = session.get(Conversation, conversation_id)
    if conv is None or conv.contact_id != contact_id:
        raise NotFound(f"conversation {conversation_id} is not one of this customer's")
    if conv.status != "resolved":
        raise Forbidden("only a resolved conversation is rated")
    e = table_of(Event).c
    last = dict(session.execute(
        select(e.type, func.max(e.id)).where(e.conversation_id == conversation_id,
                                             e.type.in_((Rated.TYPE, StatusChanged.TYPE))).group_by(e.type)).all())
    if last.get(Rated.TYPE, 0) > last.get(StatusChanged.TYPE, 0):
        raise Conflict("this conversation was rated already")
    return conv, score, (comment or "").strip() or None


def do_rate(session: Session, conversation_id: int, contact_id: int, score: object, comment: object) -> int:
    """Append the customer's rating (`check_rating` first); the event's id."""
    conv, score, text = check_rating(session, conversation_id, contact_id, score, comment)
    assert conv.id is not None
    return log.append(session, Rated(conversation_id=conv.id, contact_id=conv.contact_id, score=score, comment=text))
