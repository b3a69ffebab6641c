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


#: Vtiger Cloud's API limits per edition: (calls a minute, an hour, a day) (vtiger-notes.md).
#: ``unlimited`` is no edition: the test and benchmark harness uses it.
EDITIONS: dict[str, tuple[int, int, int]] = {
    "one-growth": (30, 1_000, 24_000),
    "one-professional": (60, 4_000, 72_000),
    "one-enterprise": (90, 5_000, 120_000),
    "unlimited": (100_000, 100_000_000, 10_000_000),
}
#: The Cloud flavor's edition unless configured: a real one, so that a client meets real limits.
DEFAULT_EDITION = "one-enterprise"


@dataclass
class RateLimiter:
    """Counts REST calls per minute, hour and day; limits are read on every call.

    ``time_scale`` (read on every call, default 1) runs the limiter's clock faster than real
    time for benchmarks: at 60 a "minute" window lasts one real second. Reset times and
    Retry-After are given in real time (fractional seconds when scaled), so a client pacing by
    the headers behaves as it would against the real limits, only faster.
    """

    minute_limit: Callable[[], int]
    daily_limit: Callable[[], int]
    hourly_limit: Callable[[], int] = lambda: 100_000_000
    time_scale: Callable[[], float] = lambda: 1.0
    clock: Callable[[], float] = time.time
    _minute_window: int = -1
    _minute_count: int = 0
    _hour_window: int = -1
    _hour_count: int = 0
    _day_window: int = -1
    _day_count: int = 0
    _origin: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self) -> RateDecision:
        """Account one call (rejected calls are not counted against the quota)."""
        real = self.clock()
        scale = max(1.0, float(self.time_scale() or 1.0))
        origin = self._origin if self._origin is not None else real
        self._origin = origin
        now = origin + (real - origin) * scale  # the limiter's (possibly faster) clock

        def to_real(at: float) -> float:
            return origin + (at - origin) / scale

        minute, hour, day = int(now // 60), int(now // 3600), int(now // 86400)
        mlimit, dlimit = int(self.minute_limit()), int(self.daily_limit())
        hlimit = int(self.hourly_limit())
        with self._lock:
            if minute != self._minute_window:
                self._minute_window, self._minute_count = minute, 0
            if hour != self._hour_window:
                self._hour_window, self._hour_count = hour, 0
            if day != self._day_window:
                self._day_window, self._day_count = day, 0
            m_reset = (minute + 1) * 60
            h_reset = (hour + 1) * 3600
            d_reset = (day + 1) * 86400
            allowed = (self._minute_count < mlimit and self._hour_count < hlimit
                       and self._day_count < dlimit)
            if allowed:
                self._minute_count += 1
                self._hour_count += 1
                self._day_count += 1
            stamp = _stamp(scale)
            headers = {
                "X-FloodControl-MinuteLimit": str(mlimit),
                "X-FloodControl-Remaining": str(max(0, mlimit - self._minute_count)),
                "X-FloodControl-Reset": stamp(to_real(m_reset)),
                "X-RateLimit-DailyLimit": str(dlimit),
                "X-RateLimit-Remaining": str(max(0, dlimit - self._day_count)),
                "X-RateLimit-Reset": stamp(to_real(d_reset)),
            }
            day_out, hour_out = self._day_count >= dlimit, self._hour_count >= hlimit
        retry: float = 0
        if not allowed:
            until = d_reset if day_out else h_reset if hour_out else m_reset
            wait = (until - now) / scale
            retry = max(1, math.ceil(wait)) if scale == 1 else max(0.001, round(wait, 3))
            headers["Retry-After"] = str(retry)
        return RateDecision(allowed, headers, retry)  # type: ignore[arg-type]

    def reset(self) -> None:
        """Forget all counts (admin reset)."""
        with self._lock:
            self._minute_window = self._hour_window = self._day_window = -1
            self._minute_count = self._hour_count = self._day_count = 0
            self._origin = None


def _stamp(scale: float) -> Callable[[float], str]:
    """Unix time as a header value: whole seconds, as Vtiger sends, unless time is scaled."""
    if scale == 1:
        return lambda at: str(round(at))
    return lambda at: f"{at:.3f}"


def edition_limits(settings: dict) -> tuple[int, int, int]:
    """(minute, hour, day) limits: explicit ``minute_limit``/``hourly_limit``/``daily_limit``
    settings win over the edition's.
    """
    name = str(settings.get("edition") or DEFAULT_EDITION)
    defaults = dict(zip(("minute_limit", "hourly_limit", "daily_limit"),
                        EDITIONS.get(name, EDITIONS[DEFAULT_EDITION]), strict=True))
    minute, hour, day = (int(settings[k]) if settings.get(k) is not None else v
                         for k, v in defaults.items())
    return minute, hour, day
