"""Login throttling: backoff per account and address, no lockout of the rightful user, bounded memory."""

from __future__ import annotations

from hub.agents.throttle import ACCOUNT_BACKOFF_CAP, LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fail(throttle: LoginThrottle, account: str, address: str, times: int = 1) -> None:
    for _ in range(times):
        assert throttle.attempt(account, address) == 0
        throttle.failed(account, address)


def test_failures_at_one_address_slow_that_address_with_doubling_waits_not_the_account_elsewhere() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=5, window_seconds=300, clock=clock)
    _fail(throttle, "ann@x.io", "10.0.0.66", 5)
    waits = []
    for _ in range(4):
        wait = throttle.attempt("ann@x.io", "10.0.0.66")
        waits.append(wait)
        clock.now += wait
        assert throttle.attempt("ann@x.io", "10.0.0.66") == 0
        throttle.failed("ann@x.io", "10.0.0.66")
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert throttle.attempt("ann@x.io", "10.0.0.66") == 16.0
    # Ann herself, at her own address, is not held up by what was tried at another one.
    assert throttle.attempt("ann@x.io", "192.168.1.7") == 0


def test_backoff_is_capped_by_the_window_and_forgotten_after_it() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=5, window_seconds=300, clock=clock)
    for _ in range(20):
        clock.now += throttle.attempt("ann@x.io", "10.0.0.66")
        _fail(throttle, "ann@x.io", "10.0.0.66")
    assert throttle.attempt("ann@x.io", "10.0.0.66") == 300
    clock.now += 301
    _fail(throttle, "ann@x.io", "10.0.0.66", 5)  # a clean slate: five free failures again


def test_guessing_from_many_addresses_slows_the_account_mildly_but_not_at_its_usual_address() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=5, window_seconds=300, clock=clock)
    assert throttle.attempt("ann@x.io", "192.168.1.7") == 0
    throttle.succeeded("ann@x.io", "192.168.1.7")  # Ann's usual address
    for i in range(40):
        clock.now += throttle.attempt("ann@x.io", f"10.1.{i}.1")
        _fail(throttle, "ann@x.io", f"10.1.{i}.1")
    # A new address waits, never more than the account's mild cap.
    wait = throttle.attempt("ann@x.io", "10.2.0.1")
    assert 0 < wait <= ACCOUNT_BACKOFF_CAP
    # Ann at her usual address logs in at once.
    assert throttle.attempt("ann@x.io", "192.168.1.7") == 0


def test_attempts_sent_at_once_past_the_free_failures_do_not_all_get_through() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=5, window_seconds=300, clock=clock)
    _fail(throttle, "ann@x.io", "10.0.0.66", 5)
    clock.now += throttle.attempt("ann@x.io", "10.0.0.66")
    # Ten attempts arrive before any of them has failed: only the first may go ahead.
    allowed = [throttle.attempt("ann@x.io", "10.0.0.66") == 0 for _ in range(10)]
    assert allowed == [True] + [False] * 9


def test_a_success_clears_only_that_account_at_that_address() -> None:
    """An attacker logging into their own account between guesses does not wipe their address's record."""
    clock = Clock()
    throttle = LoginThrottle(max_failures=5, address_factor=2, window_seconds=300, clock=clock)
    for i in range(10):
        _fail(throttle, f"victim{i}@x.io", "10.0.0.66")
    throttle.succeeded("attacker@x.io", "10.0.0.66")
    assert throttle.attempt("victim11@x.io", "10.0.0.66") > 0


def test_memory_stays_bounded_when_a_hundred_thousand_emails_are_tried() -> None:
    clock = Clock()
    throttle = LoginThrottle(max_failures=5, window_seconds=300, max_entries=1000, clock=clock)
    for i in range(100_000):
        account, address = f"nobody{i}@x.io", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
        throttle.attempt(account, address)
        throttle.failed(account, address)
        if i % 7 == 0:
            throttle.succeeded(account, address)
    assert len(throttle) <= 4 * 1000
    # The address still guessing keeps its record while the others' are dropped.
    for i in range(60):
        clock.now += throttle.attempt(f"spray{i}@x.io", "10.9.9.9")
        _fail(throttle, f"spray{i}@x.io", "10.9.9.9")
        for j in range(50):
            throttle.failed(f"other{i}-{j}@x.io", f"10.8.{i}.{j}")
    assert throttle.attempt("spray-next@x.io", "10.9.9.9") > 0
