"""Collision presence's registry (hub/viewers.py): who has which conversation open, each agent once,
and what its listeners are told when that changes, someone types, or a session goes quiet."""

from __future__ import annotations

from hub.viewers import AgentTyping, ConversationViewers, Hint, Viewer, ViewersChanged

BEN = Viewer(1, "Ben")
ANA = Viewer(2, "Ana")
WORK = (7, None)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def registry() -> tuple[ConversationViewers, list[Hint], Clock]:
    clock = Clock()
    viewers = ConversationViewers(ttl=30.0, clock=clock)
    told: list[Hint] = []
    viewers.on_hint(told.append)
    return viewers, told, clock


def test_joining_and_leaving_tell_who_has_it_open_now() -> None:
    viewers, told, _ = registry()
    viewers.view("ben-tab", BEN, 5, WORK)
    viewers.view("ana-tab", ANA, 5, WORK)
    assert told[-1] == ViewersChanged(5, WORK, (ANA, BEN))
    viewers.view("ana-tab", ANA, 6, (None, None))  # Ana opens another conversation
    assert told[-2:] == [ViewersChanged(6, (None, None), (ANA,)), ViewersChanged(5, WORK, (BEN,))]
    viewers.leave("ben-tab")
    assert told[-1] == ViewersChanged(5, WORK, ())
    assert viewers.viewing("ben-tab") is None and viewers.viewing("ana-tab") == 6


def test_an_agent_with_two_tabs_is_listed_once_until_both_close() -> None:
    viewers, told, _ = registry()
    viewers.view("ben-1", BEN, 5, WORK)
    viewers.view("ben-2", BEN, 5, WORK)
    assert viewers.viewers(5) == (BEN,)
    viewers.leave("ben-1")
    assert told[-1].viewers == (BEN,)  # type: ignore[union-attr]
    viewers.leave("ben-2")
    assert told[-1].viewers == ()  # type: ignore[union-attr]


def test_a_refresh_tells_nobody_and_keeps_the_session() -> None:
    viewers, told, clock = registry()
    viewers.view("ben-tab", BEN, 5, WORK)
    before = len(told)
    clock.now += 25
    viewers.view("ben-tab", BEN, 5)
    clock.now += 25
    viewers.sweep()
    assert len(told) == before and viewers.viewers(5) == (BEN,)


def test_a_session_not_heard_from_is_dropped_by_the_sweep() -> None:
    viewers, told, clock = registry()
    viewers.view("ben-tab", BEN, 5, WORK)
    viewers.view("ana-tab", ANA, 5, WORK)
    clock.now += 20
    viewers.view("ana-tab", ANA, 5)
    clock.now += 15  # Ben silent for 35 s, Ana for 15
    viewers.sweep()
    assert told[-1] == ViewersChanged(5, WORK, (ANA,))


def test_typing_joins_and_carries_the_mode_and_fresh_work() -> None:
    viewers, told, _ = registry()
    viewers.typing("ben-tab", BEN, 5, "note", (8, 1))
    assert told == [ViewersChanged(5, (8, 1), (BEN,)), AgentTyping(5, (8, 1), BEN, "note")]


def test_a_broken_listener_does_not_keep_the_hint_from_others() -> None:
    viewers, told, _ = registry()

    def broken(hint: Hint) -> None:
        raise RuntimeError("boom")

    viewers.on_hint(broken)
    viewers.view("ben-tab", BEN, 5, WORK)
    assert told == [ViewersChanged(5, WORK, (BEN,))]
