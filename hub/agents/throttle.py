"""Login throttling: exponential backoff per account and address, never a lockout of the rightful user."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

# Across all addresses, an account is slowed at most this much between attempts: enough to make
# guessing from many addresses slow (one guess per 30 s in all, ~3,000 a day), little enough that
# its owner on a new device only waits a moment. The owner's usual addresses skip it altogether.
ACCOUNT_BACKOFF_CAP = 30.0


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0  # the latest failure (monotonic seconds)
    until: float = 0.0  # no attempt before this


class _Backoff:
    """Failures per key, forgotten `window` seconds after the last one. After `free` failures each
    attempt must wait 1 s, then 2, 4, ... up to `cap`. At most `max_entries` keys are kept; the least
    recently touched goes first (an attacker's own keys are the ones they keep touching)."""

    def __init__(self, free: int, cap: float, window: float, max_entries: int) -> None:
        self.free, self.cap, self.window, self.max_entries = free, cap, window, max_entries
        self._keys: OrderedDict[Hashable, _Failures] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def _delay(self, count: int) -> float:
        return 0.0 if count < self.free else min(self.cap, 2.0 ** min(count - self.free, 32))

    def _get(self, key: Hashable, now: float) -> _Failures | None:
        entry = self._keys.get(key)
        if entry is not None and now - entry.last > self.window and entry.until <= now:
            del self._keys[key]
            return None
        return entry

    def wait(self, key: Hashable, now: float) -> float:
        entry = self._get(key, now)
        return max(0.0, entry.until - now) if entry is not None else 0.0

    def claim(self, key: Hashable, now: float) -> None:
        """An attempt starts: past the free failures, the next one waits as if this one failed
        already, so attempts sent in parallel cannot all slip through before their failures count."""
        entry = self._get(key, now)
        if entry is not None and entry.count >= self.free:
            entry.until = max(entry.until, now + self._delay(entry.count))

    def failed(self, key: Hashable, now: float) -> None:
        entry = self._get(key, now)
        if entry is None:
            entry = self._keys[key] = _Failures()
            while len(self._keys) > self.max_entries:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(key)
        entry.count += 1
        entry.last = now
        entry.until = max(entry.until, now + self._delay(entry.count))

    def clear(self, key: Hashable) -> None:
        self._keys.pop(key, None)


class LoginThrottle:
    """Three backoffs, so that nobody can lock a rightful user out:

    - an account at one address: `max_failures` free, then 1 s, 2 s, 4 s ... up to `window` between
      attempts. A guesser slows only themselves; the account's owner elsewhere is not affected.
    - an address, across accounts: `address_factor` times that room (an office behind one address
      shares it), then the same backoff: spraying many accounts from one place.
    - an account, across addresses: twice the room it has at one address, then at most
      `ACCOUNT_BACKOFF_CAP` between attempts, except at the account's usual addresses (where a login
      succeeded before): guessing from many addresses gets slow, its owner at home is not held up.

    Memory is bounded: each map keeps at most `max_entries` keys. Per process: behind several web
    nodes, each node throttles what it sees. Addresses are only as true as `request.client`, which
    names the proxy unless `trusted_proxies` lets uvicorn read the forwarded address."""

    def __init__(self, max_failures: int = 5, window_seconds: float = 300.0, address_factor: int = 10,
                 max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        window = float(window_seconds)
        self._clock = clock
        self._pairs = _Backoff(max_failures, window, window, max_entries)
        self._addresses = _Backoff(max_failures * address_factor, window, window, max_entries)
        self._accounts = _Backoff(max_failures * 2, ACCOUNT_BACKOFF_CAP, window, max_entries)
        self._usual: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Keys held in all (for tests of the bound)."""
        return len(self._pairs) + len(self._addresses) + len(self._accounts) + len(self._usual)

    def _backoffs(self, account: str, address: str) -> list[tuple[_Backoff, Hashable]]:
        found: list[tuple[_Backoff, Hashable]] = [(self._pairs, (account, address)), (self._addresses, address)]
        if (account, address) not in self._usual:
            found.append((self._accounts, account))
        return found

    def attempt(self, account: str, address: str) -> float:
        """Seconds to wait before this attempt is allowed; 0 means go ahead (and it is counted as
        started, see `_Backoff.claim`)."""
        now = self._clock()
        with self._lock:
            backoffs = self._backoffs(account, address)
            wait = max(b.wait(key, now) for b, key in backoffs)
            if wait == 0:
                for b, key in backoffs:
                    b.claim(key, now)
            return wait

    def failed(self, account: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            for b, key in self._backoffs(account, address):
                b.failed(key, now)

    def succeeded(self, account: str, address: str) -> None:
        """Clears only this account's failures at this address: a success on the attacker's own
        account must not wipe what they did to others, nor an address's count."""
        with self._lock:
            self._pairs.clear((account, address))
            self._usual[(account, address)] = None
            self._usual.move_to_end((account, address))
            while len(self._usual) > self._max_entries:
                self._usual.popitem(last=False)
