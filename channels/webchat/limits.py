"""Rate limits of the web chat (per visitor, per client address): token buckets in this process.

Each key gets `rate` tokens per `per` seconds, at most `rate` saved up. The map keeps at most
`max_keys` keys (the least recently used go first), so a flood of new addresses costs bounded
memory. Per process: with several hub processes a client gets each process's budget.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable


class RateLimit:
    def __init__(self, rate: int, per: float, *, max_keys: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.per, self.max_keys, self.clock = rate, per, max_keys, clock
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def take(self, key: Hashable) -> float:
        """0 if `key` may act now (a token is spent), else the seconds until it may."""
        now = self.clock()
        tokens, at = self._buckets.pop(key, (float(self.rate), now))
        tokens = min(float(self.rate), tokens + (now - at) * self.rate / self.per)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) * self.per / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait
