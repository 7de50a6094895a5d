"""The routing policy is pure: who is next, in which order, never above capacity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.routing.policy import AgentState, Work, choose, plan, queue_order

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def agent(id: int, *, load: int = 0, cap: int = 3, teams: tuple[int, ...] = (1,), presence: str = "online",
          idle_minutes: float = 0, skills: tuple[str, ...] = ()) -> AgentState:
    return AgentState(
        id=id, presence=presence, team_ids=frozenset(teams), skills=frozenset(skills),
        capacity={"webchat": cap}, load={"webchat": load},
        last_assigned_at=NOW - timedelta(minutes=idle_minutes),
    )


def work(id: int, *, priority: int = 0, waited: float = 0, team: int | None = 1, last: int | None = None,
         skill: str | None = None, sticky_for: float | None = None) -> Work:
    since = NOW - timedelta(seconds=waited)
    return Work(id, "webchat", team, priority, since, last, skill,
                sticky_until=NOW + timedelta(seconds=sticky_for) if sticky_for is not None else None)


def test_lowest_load_then_longest_idle_wins() -> None:
    agents = [agent(1, load=1, idle_minutes=60), agent(2, load=0, idle_minutes=1), agent(3, load=0, idle_minutes=30)]
    assert choose(work(1), agents, NOW) == 3


def test_offline_full_or_other_team_agents_are_not_eligible() -> None:
    agents = [agent(1, presence="away"), agent(2, load=3), agent(3, teams=(2,))]
    assert choose(work(1), agents, NOW) is None
    assert choose(work(1, team=None), agents, NOW) == 3  # the shared inbox: anyone online with room


def test_skill_is_required_when_asked() -> None:
    agents = [agent(1, idle_minutes=50), agent(2, skills=("billing",))]
    assert choose(work(1, skill="billing"), agents, NOW) == 2


def test_returning_customer_goes_back_to_their_agent() -> None:
    agents = [agent(1, load=2, idle_minutes=1), agent(2, load=0, idle_minutes=90)]
    assert choose(work(1, last=1), agents, NOW) == 1


def test_sticky_holds_briefly_when_their_agent_is_full_then_gives_up() -> None:
    agents = [agent(1, load=3), agent(2)]
    assert choose(work(1, last=1, sticky_for=10), agents, NOW) is None
    assert choose(work(1, last=1, sticky_for=-1), agents, NOW) == 2


def test_sticky_does_not_wait_for_an_offline_agent() -> None:
    agents = [agent(1, presence="offline"), agent(2)]
    assert choose(work(1, last=1, sticky_for=60), agents, NOW) == 2


def test_queue_order_is_priority_then_longest_waiting() -> None:
    works = [work(1, waited=10), work(2, priority=5, waited=1), work(3, waited=100), work(4, priority=5, waited=50)]
    assert [w.conversation_id for w in queue_order(works)] == [4, 2, 3, 1]


def test_plan_never_exceeds_capacity_and_serves_in_queue_order() -> None:
    agents = [agent(1, cap=2), agent(2, cap=1, load=0)]
    works = [work(i, waited=100 - i) for i in range(1, 7)]
    assignments = plan(works, agents, NOW)
    assert [c for c, _ in assignments] == [1, 2, 3]
    per_agent = {a: sum(1 for _, x in assignments if x == a) for a in (1, 2)}
    assert per_agent == {1: 2, 2: 1}


def test_choose_agrees_with_its_definition_on_random_teams() -> None:
    """`choose` is an inlined loop; this is the rule it implements, written plainly: the eligible
    agent with the lowest (load, last assignment or never, id)."""
    import random

    from hub.routing.policy import _EPOCH, eligible

    rng = random.Random(6)
    for _ in range(2_000):
        agents = [
            AgentState(
                id=i, presence=rng.choice(["online", "online", "away", "offline"]),
                team_ids=frozenset(rng.sample([1, 2, 3], rng.randint(0, 2))),
                skills=frozenset(rng.sample(["fr", "de", "vip"], rng.randint(0, 2))),
                capacity={"webchat": rng.randint(0, 3)},
                load={"webchat": rng.randint(0, 3)} if rng.random() < 0.8 else {},
                last_assigned_at=rng.choice([None, NOW - timedelta(minutes=rng.randint(0, 5))]),
            )
            for i in rng.sample(range(1, 40), rng.randint(0, 12))
        ]
        w = Work(1, "webchat", rng.choice([None, 1, 2]), 0, NOW, None, rng.choice([None, "fr"]),
                 excluded=frozenset(rng.sample(range(1, 40), rng.randint(0, 4))))
        candidates = [a for a in agents if eligible(a, w)]
        expected = min(candidates, key=lambda a: (a.load.get("webchat", 0), a.last_assigned_at or _EPOCH, a.id)).id \
            if candidates else None
        assert choose(w, agents, NOW) == expected
