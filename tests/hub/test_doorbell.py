"""The event bus's wake-up: a ring is never lost, whether the waiter sleeps or is busy."""

from __future__ import annotations

import threading

from hub.doorbell import Doorbell
from tests.conftest import wait_for

LONG = 30.0  # a wait that is not woken would end here, and the test would fail on its answer


def test_a_ring_while_the_waiter_sleeps_wakes_it() -> None:
    bell = Doorbell()
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(bell.wait(LONG)))
    waiter.start()
    wait_for(lambda: bell._asleep, what="the waiter asleep")
    bell.ring()
    waiter.join(LONG)
    assert woke == [True]


def test_a_ring_while_the_waiter_is_busy_is_found_by_its_next_wait_and_only_that_one() -> None:
    bell = Doorbell()
    bell.ring()
    bell.ring()
    assert bell.wait(LONG) is True
    assert bell.wait(0.01) is False, "two rings before one wait are one wake-up"


def test_no_ring_ends_at_the_timeout() -> None:
    assert Doorbell().wait(0.01) is False


def test_every_ring_from_another_thread_is_answered_by_a_wake_up_after_it() -> None:
    bell = Doorbell()
    seen = 0  # the waiter's count of the "commits" it has looked at
    made = 0
    stop = threading.Event()

    def waiter() -> None:
        nonlocal seen
        while not stop.is_set():
            bell.wait(4 * LONG)  # a lost ring would leave it asleep past wait_for's patience
            seen = made  # reads everything committed before the ring

    thread = threading.Thread(target=waiter)
    thread.start()
    for _ in range(2000):
        made += 1  # a commit, then its ring
        bell.ring()
    # the last ring must bring one more look that sees the last commit
    wait_for(lambda: seen == made, timeout=LONG, what="a look after the last ring")
    stop.set()
    bell.ring()
    thread.join(LONG)
    assert seen == 2000
