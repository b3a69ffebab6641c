"""Deterministic fault injection: the same seed gives the same faults on the same call numbers.

Why per-call hashing instead of one shared random stream: the n-th eligible call's fate depends
only on ``(seed, n)``, so a test can predict and replay it, and concurrent callers cannot shift
each other's outcomes beyond their call numbers.

Settings (``faults`` in ``/_sandbox/config``)::

    {"seed": 1, "latency_ms": 0, "error_rate": 0, "drop_rate": 0, "html_rate": 0,
     "truncate_rate": 0, "burst_429": {"every": n, "length": k, "retry_after": s},
     "hold_create_s": 0, "crash_values": [], "operations": null | ["sync", ...]}

``hold_create_s``: every ``create`` waits that long before it writes, and writes even when the
client has gone (a server slower than the client's ``request_timeout``).

``crash_values``: a list of strings; a call whose ``element`` (create, update, revise)
contains one of them answers HTTP 500 with an empty body and writes nothing, every time (a
record a real server crashes on, whatever the number of retries).

``burst_429``: calls are numbered from 0 among the eligible ones; in every cycle of
``every + length`` calls, the first ``every`` pass and the next ``length`` answer 429.
Error, drop and HTML faults happen before the operation runs (nothing is written);
``truncate`` runs the operation and then cuts the JSON body in half.
"""

from __future__ import annotations

import collections
import json
import random
import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class Fault:
    """What to do to one call."""

    kind: str  # "none" | "error" | "drop" | "html" | "truncate" | "429"
    latency_s: float = 0.0
    status: int = 200
    retry_after: int = 1


class FaultInjector:
    """Counts eligible calls and decides each call's fault from (seed, call number)."""

    def __init__(self) -> None:
        self.counter = 0
        #: Faults injected so far, by kind ("error", "drop", "html", "truncate", "429"), so a
        #: test can say how hard it was hit (``/_sandbox/stats`` reports it as ``faults``).
        self.injected: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Start counting calls (and injected faults) from zero again."""
        with self._lock:
            self.counter = 0
            self.injected.clear()

    def _tally(self, fault: Fault) -> Fault:
        with self._lock:
            self.injected[fault.kind] += 1
        return fault

    def crashes_on(self, config: dict[str, Any] | None, params: dict[str, Any]) -> bool:
        """The ``crash_values`` fault: whether this call's ``element`` holds one of them."""
        values = (config or {}).get("crash_values") or []
        element = params.get("element")
        if not values or element is None:
            return False
        text = element if isinstance(element, str) else json.dumps(element, ensure_ascii=False)
        if any(isinstance(v, str) and v and v in text for v in values):
            self._tally(Fault("crash_value"))
            return True
        return False

    def decide(self, config: dict[str, Any] | None, operation: str) -> Fault | None:
        """The fault for this call, or None when injection is off or skips the operation."""
        if not config:
            return None
        ops = config.get("operations")
        if ops is not None and operation not in ops:
            return None
        with self._lock:
            n = self.counter
            self.counter += 1
        seed = int(config.get("seed", 0))
        rng = random.Random(seed * 1_000_003 + n)
        latency = float(config.get("latency_ms", 0) or 0) / 1000.0
        burst = config.get("burst_429") or {}
        every, length = int(burst.get("every", 0) or 0), int(burst.get("length", 0) or 0)
        if every > 0 and length > 0 and n % (every + length) >= every:
            return self._tally(Fault("429", latency, 429, int(burst.get("retry_after", 1) or 1)))
        u = rng.random()
        edge = 0.0
        for kind in ("error", "drop", "html", "truncate"):
            edge += float(config.get(f"{kind}_rate", 0) or 0)
            if u < edge:
                status = 200
                if kind == "error":
                    status = rng.choice((500, 502, 503))
                elif kind == "drop":
                    status = rng.choice((0, 1))  # 0: reset before the response, 1: cut midway
                return self._tally(Fault(kind, latency, status))
        return Fault("none", latency) if latency else None
