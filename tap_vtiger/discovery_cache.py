"""Discovery answers (``listtypes``, ``describe``) kept between runs in a cache file.

Discovery costs ``1 + modules`` calls (36 on a stock instance); a run every 15 minutes would
spend 3,456 calls a day on it, 14% of Vtiger Cloud's smallest daily limit, to learn nothing new.
So the answers are kept in a JSON file, one per instance, user and API style, and reused while
younger than ``discovery_cache_ttl`` (a day by default: new modules and fields show up at most
a day late even when no record shows them).

A schema change shows itself earlier: a record carrying a field the module's schema lacks
makes the stream ask the cache (a catalog may be older than the cache), then, if the cache lacks
it too, spend one ``describe`` of that module (:meth:`DiscoveryCache.fresh_describe`), and the
new field is emitted from then on (see :mod:`tap_vtiger.schema_drift`).

The file holds module metadata only (names, fields, picklist values), never credentials; it is
written atomically (a temporary file renamed), so concurrent runs never read a torn file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import typing as t
from pathlib import Path

from singer_sdk import typing as th

log = logging.getLogger(__name__)

#: Version of the file layout (a different version is ignored and rewritten).
VERSION = 1
DEFAULT_TTL = 86400

DISCOVERY_CACHE_SETTINGS = [
    th.Property(
        "discovery_cache",
        th.StringType,
        default="auto",
        description="Where listtypes and describe answers are kept between runs (saves "
        "1 + modules calls per run, 36 on a stock instance): auto (one file per instance, user "
        "and API style under $XDG_CACHE_HOME/tap-vtiger, else ~/.cache/tap-vtiger), a file "
        "path, or off (discover on every run without a catalog).",
    ),
    th.Property(
        "discovery_cache_ttl",
        th.IntegerType,
        default=DEFAULT_TTL,
        description="Seconds a cached listtypes/describe answer is trusted (default a day). A "
        "record carrying a field its schema lacks refreshes that module at once (1 describe).",
    ),
]


def default_directory() -> Path:
    """``$XDG_CACHE_HOME/tap-vtiger``, else ``~/.cache/tap-vtiger``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tap-vtiger"


class DiscoveryCache:
    """listtypes and describe answers of one instance, user and API style."""

    def __init__(self, path: Path | None, instance: str, ttl: float = DEFAULT_TTL,
                 clock: t.Callable[[], float] = time.time) -> None:
        self.path = path
        self.instance = instance
        self.ttl = float(ttl)
        self.clock = clock
        self._data: dict[str, t.Any] | None = None

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any], base_url: str) -> DiscoveryCache:
        """The cache the settings ask for (``path`` None when ``discovery_cache`` is off)."""
        setting = str(config.get("discovery_cache") or "auto").strip()
        style = str(config.get("api_style") or "rest")
        instance = f"{base_url} {config.get('username')} {style}"
        ttl = config.get("discovery_cache_ttl")
        ttl = DEFAULT_TTL if ttl is None else ttl
        if setting.lower() == "off":
            return cls(None, instance, ttl)
        if setting.lower() == "auto":
            name = hashlib.sha256(instance.encode()).hexdigest()[:20]
            return cls(default_directory() / f"{name}.json", instance, ttl)
        return cls(Path(setting).expanduser(), instance, ttl)

    @property
    def enabled(self) -> bool:
        """False when ``discovery_cache`` is off."""
        return self.path is not None

    # ------------------------------------------------------------------ reading

    def _load(self) -> dict[str, t.Any]:
        if self._data is None:
            data: dict[str, t.Any] = {}
            if self.path is not None:
                try:
                    data = json.loads(self.path.read_text())
                except (OSError, ValueError):
                    data = {}
            if (not isinstance(data, dict) or data.get("version") != VERSION
                    or data.get("instance") != self.instance):
                data = {}
            data.setdefault("describes", {})
            self._data = data
        return self._data

    def _fresh(self, entry: t.Any) -> t.Any:
        if not isinstance(entry, dict) or "value" not in entry:
            return None
        age = self.clock() - float(entry.get("at") or 0)
        return entry["value"] if 0 <= age < self.ttl else None

    def listtypes(self) -> dict | None:
        """The cached listtypes answer, if fresh."""
        if not self.enabled:
            return None
        return self._fresh(self._load().get("listtypes"))

    def describe(self, module: str) -> dict | None:
        """The cached describe of a module, if fresh."""
        if not self.enabled:
            return None
        return self._fresh(self._load()["describes"].get(module))

    def any_describe(self, module: str) -> dict | None:
        """The cached describe of a module whatever its age (for fields a catalog lacks)."""
        if not self.enabled:
            return None
        entry = self._load()["describes"].get(module)
        return entry.get("value") if isinstance(entry, dict) else None

    # ------------------------------------------------------------------ writing

    def put_listtypes(self, value: dict) -> dict:
        """Keep a fresh listtypes answer; returns it."""
        if self.enabled:
            self._load()["listtypes"] = {"at": self.clock(), "value": value}
            self._save()
        return value

    def put_describe(self, module: str, value: dict) -> dict:
        """Keep a fresh describe answer; returns it."""
        if self.enabled:
            self._load()["describes"][module] = {"at": self.clock(), "value": value}
            self._save()
        return value

    def _save(self) -> None:
        """Write atomically; a cache that cannot be written costs calls, never the run."""
        assert self.path is not None
        data = {**self._load(), "version": VERSION, "instance": self.instance}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".discovery-", dir=self.path.parent)
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("discovery cache %s cannot be written (%s); discovery will be repeated "
                        "next run", self.path, exc.strerror or exc)
