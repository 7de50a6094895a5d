"""The web chat's token buckets."""

from __future__ import annotations

from channels.webchat.limits import RateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_next_waits_until_a_token_is_back() -> None:
    clock = Clock()
    limit = RateLimit(3, 3.0, clock=clock)
    assert [limit.take("a") for _ in range(3)] == [0, 0, 0]
    assert limit.take("a") > 0
    assert limit.take("b") == 0  # another key has its own budget
    clock.now += 1.0
    assert limit.take("a") == 0


def test_the_map_forgets_the_least_recent_keys_beyond_its_size() -> None:
    limit = RateLimit(1, 60.0, max_keys=2, clock=Clock())
    limit.take("a")
    limit.take("b")
    limit.take("c")  # "a" is forgotten: a full bucket again
    assert limit.take("a") == 0
    assert len(limit._buckets) == 2
