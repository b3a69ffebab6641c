"""Vtiger Cloud style rate limits: a per-minute flood control and a daily quota.

Fixed windows (the minute and the UTC day) keep the arithmetic trivial and the numbers
predictable for tests. Header semantics (documented in docs/CONTRACTS.md):
``X-FloodControl-Reset`` / ``X-RateLimit-Reset`` are the unix time (seconds) at which the
window resets; ``Retry-After`` (only on 429) is the number of seconds to wait.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RateDecision:
    """Outcome of one call: allowed or not, the headers to send, and Retry-After."""

    allowed: bool
    headers: dict[str, str]
    retry_after: int = 0


@dataclass
class RateLimiter:
    """Counts REST calls per minute and per day; limits are read on every call."""

    minute_limit: Callable[[], int]
    daily_limit: Callable[[], int]
    clock: Callable[[], float] = time.time
    _minute_window: int = -1
    _minute_count: int = 0
    _day_window: int = -1
    _day_count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self) -> RateDecision:
        """Account one call (rejected calls are not counted against the quota)."""
        now = self.clock()
        minute = int(now // 60)
        day = int(now // 86400)
        mlimit, dlimit = int(self.minute_limit()), int(self.daily_limit())
        with self._lock:
            if minute != self._minute_window:
                self._minute_window, self._minute_count = minute, 0
            if day != self._day_window:
                self._day_window, self._day_count = day, 0
            m_reset = (minute + 1) * 60
            d_reset = (day + 1) * 86400
            allowed = self._minute_count < mlimit and self._day_count < dlimit
            if allowed:
                self._minute_count += 1
                self._day_count += 1
            headers = {
                "X-FloodControl-MinuteLimit": str(mlimit),
                "X-FloodControl-Remaining": str(max(0, mlimit - self._minute_count)),
                "X-FloodControl-Reset": str(m_reset),
                "X-RateLimit-DailyLimit": str(dlimit),
                "X-RateLimit-Remaining": str(max(0, dlimit - self._day_count)),
                "X-RateLimit-Reset": str(d_reset),
            }
        retry = 0
        if not allowed:
            until = d_reset if self._day_count >= dlimit else m_reset
            retry = max(1, math.ceil(until - now))
            headers["Retry-After"] = str(retry)
        return RateDecision(allowed, headers, retry)

    def reset(self) -> None:
        """Forget all counts (admin reset)."""
        with self._lock:
            self._minute_window = self._day_window = -1
            self._minute_count = self._day_count = 0
