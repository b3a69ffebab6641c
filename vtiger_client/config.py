"""How to reach one Vtiger instance: the connection settings, validated before any call.

:meth:`ClientConfig.from_mapping` refuses a bad setting with one line naming it (and never the
access key): a missing or blank credential, an API style other than ``rest`` or
``webservice``, numbers out of range, plain http to a host that is not this machine (unless
``allow_http``), credentials inside the URL, header texts HTTP cannot send, a CA bundle that
cannot be read.
"""

from __future__ import annotations

import ipaddress
import math
import os
import typing as t
from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit, urlunsplit

from vtiger_client.errors import ConfigError

REST_PATH = "/restapi/v1/vtiger/default"
WEBSERVICE_PATH = "/webservice.php"
API_STYLES = ("rest", "webservice")


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _as_bool(value: t.Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError("CONFIG", f"setting {name} must be true or false")


def _as_number(value: t.Any, name: str, *, minimum: float, integer: bool = False) -> t.Any:
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise ConfigError("CONFIG", f"setting {name} must be a number") from None
    if number < minimum or (not integer and math.isnan(number)):
        raise ConfigError("CONFIG", f"setting {name} must be >= {minimum}")
    return number


@dataclass
class ClientConfig:
    """How to reach one Vtiger instance. Build it with :meth:`from_mapping` (validates)."""

    api_url: str
    username: str
    access_key: str = field(repr=False)
    api_style: str = "rest"
    request_timeout: float = 60
    max_retries: int = 5
    user_agent: str = "vtiger-client/0.1"
    verify_ssl: bool = True
    ca_bundle: str | None = None
    allow_http: bool = False
    api_budget_percent: float | None = None
    backoff_base: float = 1.0
    backoff_max: float = 60

    @classmethod
    def from_mapping(cls, config: t.Mapping[str, t.Any]) -> ClientConfig:
        """Validate a settings mapping (unknown keys are ignored: the tap's config is wider).

        Raises ConfigError naming the first bad setting; never echoes the access key.
        """
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in config.items() if k in known and v is not None}
        for name in ("api_url", "username", "access_key"):
            if not isinstance(values.get(name), str) or not values[name].strip():
                raise ConfigError("CONFIG", f"setting {name} is required")
        values["api_url"] = values["api_url"].strip()
        values["username"] = values["username"].strip()
        style = str(values.get("api_style", "rest")).strip().lower()
        if style not in API_STYLES:
            raise ConfigError("CONFIG", "setting api_style must be 'rest' or 'webservice'")
        values["api_style"] = style
        for name, minimum, integer in (
            ("request_timeout", 0.001, False),
            ("max_retries", 0, True),
            ("backoff_base", 0, False),
            ("backoff_max", 0, False),
        ):
            if name in values:
                values[name] = _as_number(values[name], name, minimum=minimum, integer=integer)
        if "api_budget_percent" in values:
            pct = _as_number(values["api_budget_percent"], "api_budget_percent", minimum=0)
            if not 0 < pct <= 100:
                raise ConfigError("CONFIG", "setting api_budget_percent must be in (0, 100]")
            values["api_budget_percent"] = pct
        for name in ("verify_ssl", "allow_http"):
            if name in values:
                values[name] = _as_bool(values[name], name)
        _check_header_texts(values)
        if values.get("ca_bundle") not in (None, ""):
            bundle = values["ca_bundle"]
            if not isinstance(bundle, str):
                raise ConfigError("CONFIG", "setting ca_bundle must be a file path")
            if not os.path.isfile(bundle) or not os.access(bundle, os.R_OK):
                raise ConfigError("CONFIG", "setting ca_bundle must name a readable PEM file "
                                  f"(not found or not readable: {bundle})")
        cfg = cls(**values)
        cfg.base_url()  # validates the URL
        return cfg

    def base_url(self) -> str:
        """The instance URL (scheme://host[:port][/prefix]) without the API path.

        Accepts the instance URL, the REST endpoint URL or the webservice.php URL.
        Plain http only for loopback hosts unless ``allow_http``: an access key sent in clear
        over the internet is a leaked access key.
        """
        parts = urlsplit(self.api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("CONFIG", "setting api_url must be an http(s) URL")
        if parts.scheme == "http" and not self.allow_http and not _is_loopback(parts.hostname):
            raise ConfigError(
                "CONFIG",
                "setting api_url uses plain http to a non-local host; use https or set allow_http",
            )
        path = parts.path.rstrip("/")
        for suffix in (REST_PATH, WEBSERVICE_PATH):
            if path.endswith(suffix):
                path = path[: -len(suffix)]
                break
        if parts.username or parts.password:
            raise ConfigError("CONFIG", "setting api_url must not contain credentials")
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _check_header_texts(values: dict[str, t.Any]) -> None:
    """Settings sent in HTTP headers must be sendable: ``user_agent`` without line breaks or
    other control characters (requests refuses them mid-run), ``username`` and ``access_key``
    in Latin-1 (HTTP Basic auth; Vtiger's access keys are 16 letters and digits). Checked
    before any call; the access key is never quoted.
    """
    agent = values.get("user_agent")
    if agent is not None and (not isinstance(agent, str)
                              or any(ord(c) < 32 or ord(c) == 127 for c in agent)):
        raise ConfigError("CONFIG", "setting user_agent must be one line of text (no CR, LF or "
                          "other control characters)")
    for name in ("username", "access_key"):
        text = values.get(name)
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            raise ConfigError("CONFIG", f"setting {name} has characters outside Latin-1, "
                              "which HTTP authentication cannot send; copy it again from "
                              "Vtiger (My Preferences)") from None
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise ConfigError("CONFIG", f"setting {name} contains a line break or other "
                              "control character; copy it again from Vtiger")
