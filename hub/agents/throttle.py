"""Login throttling: a sliding window of failures per account and per client address."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class LoginThrottle:
    """Keys starting with "ip:" get `address_factor` times the room of an account: one office
    behind one address must not be locked out by a few colleagues' typos."""

    def __init__(self, max_failures: int = 5, window_seconds: float = 300.0, address_factor: int = 10) -> None:
        self.max_failures = max_failures
        self.address_factor = address_factor
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque[float]:
        q = self._failures[key]
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def retry_after(self, *keys: str) -> float:
        """Seconds until another attempt is allowed for these keys (0 when allowed now)."""
        now = time.monotonic()
        with self._lock:
            waits = [
                self.window - (now - q[0])
                for k, q in ((k, self._trim(k, now)) for k in keys)
                if len(q) >= self._limit(k)
            ]
        return max(waits, default=0.0)

    def _limit(self, key: str) -> int:
        return self.max_failures * (self.address_factor if key.startswith("ip:") else 1)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._trim(k, now).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
