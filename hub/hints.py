"""Typing hints: who is typing in which conversation, for a few seconds.

Ephemeral by design: never written to the event log, never replayed after a reconnect, and only
within this process (a hint lost is harmless; with several hub processes a visitor and an agent
connected to different ones do not see each other typing: Redis pub/sub would carry them, later).
Listeners are plain callables run on the event loop; they must not block (a socket schedules its
send).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CustomerTyping:
    """The customer of `conversation_id` is typing; its team and assignee decide which agents may know."""

    conversation_id: int
    team_id: int | None
    assignee_id: int | None


CustomerListener = Callable[[CustomerTyping], None]
AgentListener = Callable[[int, str], None]  # (conversation id, the agent's display name)


class TypingHints:
    def __init__(self) -> None:
        self._customer: set[CustomerListener] = set()
        self._agent: set[AgentListener] = set()

    def on_customer_typing(self, listener: CustomerListener) -> Callable[[], None]:
        self._customer.add(listener)
        return lambda: self._customer.discard(listener)

    def on_agent_typing(self, listener: AgentListener) -> Callable[[], None]:
        self._agent.add(listener)
        return lambda: self._agent.discard(listener)

    def customer_typing(self, hint: CustomerTyping) -> None:
        for listener in list(self._customer):
            _call(listener, hint)

    def agent_typing(self, conversation_id: int, agent_name: str) -> None:
        for listener in list(self._agent):
            _call(listener, conversation_id, agent_name)


def _call(listener: Callable[..., None], *args: object) -> None:
    try:
        listener(*args)
    except Exception:  # one broken listener must not keep the hint from the others
        logger.exception("a typing listener failed")
