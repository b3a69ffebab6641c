"""The connection settings, declared once for tap-vtiger and target-vtiger.

Both connectors talk to Vtiger through one ``VtigerClient`` whose ``ClientConfig`` validates
these values; declaring them once, as SDK properties (so the SDK documents and validates
them), keeps the two ``--about`` outputs (and so meltano.yml and the README tables generated
from them) from drifting apart.

``api_budget_percent`` is not here on purpose: the tap stops *cleanly* at its budget (state
saved, exit 0, no default), the target *fails* at it (records unwritten, default 100), so each
connector declares it with its own meaning.
"""

from __future__ import annotations

import math
import re
import typing as t
from collections.abc import Mapping

from singer_sdk import typing as th

__all__ = ["CONNECTION_KEYS", "connection_properties", "numbers_from_strings"]

_INTEGER = re.compile(r"[+-]?[0-9]+")

#: The settings ``ClientConfig.from_mapping`` reads (with ``api_budget_percent``).
CONNECTION_KEYS = ("api_url", "username", "access_key", "api_style", "request_timeout",
                   "max_retries", "user_agent", "verify_ssl", "ca_bundle", "allow_http",
                   "backoff_base", "backoff_max")


def connection_properties(*, max_retries_note: str = "", backoff_note: str = "",
                          ) -> list[th.Property]:
    """The connection settings as SDK properties (fresh objects for each connector), with a
    connector's own sentence appended to ``max_retries`` / ``backoff_base`` where its retry
    policy adds something (the target never re-sends an unconfirmed create).
    """
    return [
        th.Property(
            "api_url",
            th.StringType,
            required=True,
            title="Vtiger URL",
            description="Instance URL, e.g. https://acme.od2.vtiger.com (the REST endpoint URL "
            "/restapi/v1/vtiger/default or a webservice.php URL is accepted too).",
        ),
        th.Property("username", th.StringType, required=True,
                    description="Vtiger user name (My Preferences -> User Name)."),
        th.Property(
            "access_key",
            th.StringType,
            required=True,
            secret=True,
            description="The user's access key (My Preferences -> Access Key). Never logged.",
        ),
        th.Property(
            "api_style",
            th.StringType,
            default="rest",
            allowed_values=["rest", "webservice"],
            description="rest: Vtiger Cloud REST API with Basic auth. webservice: self-hosted "
            "webservice.php with session login (re-login on expiry is automatic).",
        ),
        th.Property("request_timeout", th.NumberType, default=60,
                    description="Seconds to wait for one API answer."),
        th.Property("max_retries", th.IntegerType, default=5,
                    description="Retries of a failed call (timeouts, dropped connections, 5xx, "
                    "429) with exponential backoff; bad requests and credentials are never "
                    f"retried.{' ' + max_retries_note if max_retries_note else ''}"),
        th.Property("user_agent", th.StringType,
                    description="User-Agent header of API calls (default: the connector's "
                    "name and version)."),
        th.Property("verify_ssl", th.BooleanType, default=True,
                    description="Verify the server's TLS certificate."),
        th.Property("ca_bundle", th.StringType,
                    description="Path to a CA bundle (PEM) for servers with a private CA."),
        th.Property("backoff_base", th.NumberType, default=1.0,
                    description="Advanced: seconds of the first retry wait (doubles per retry, "
                    f"full jitter).{' ' + backoff_note if backoff_note else ''}"),
        th.Property("backoff_max", th.NumberType, default=60,
                    description="Advanced: longest wait between two retries, in seconds."),
        th.Property("allow_http", th.BooleanType, default=False,
                    description="Allow plain http to non-local hosts (the access key then "
                    "travels in clear text)."),
    ]


def _types(schema: Mapping[str, t.Any]) -> set[str]:
    declared = schema.get("type") or ()
    return {declared} if isinstance(declared, str) else set(declared)


def numbers_from_strings(config: Mapping[str, t.Any], schema: Mapping[str, t.Any],
                         ) -> dict[str, int | float]:
    """The numeric settings of ``config`` that arrived as numeric strings, as numbers.

    Environment variables are strings: Meltano passes a ``kind: string`` setting on as
    ``"30"`` (its ``kind: decimal`` would crash with "Decimal is not JSON serializable"), and
    the SDK's own ``--config=ENV`` leaves number settings as strings. A connector applies this
    before validating its settings, so ``"30"`` and ``30`` mean the same. A string that is
    not a finite number is left alone, so the settings check names it.
    """
    found: dict[str, int | float] = {}
    for name, prop in (schema.get("properties") or {}).items():
        value = config.get(name)
        if not isinstance(value, str):
            continue
        text = value.strip()
        types = _types(prop)
        if _INTEGER.fullmatch(text) and types & {"integer", "number"}:
            found[name] = int(text)
        elif "number" in types:
            try:
                number = float(text)
            except ValueError:
                continue
            if math.isfinite(number):
                found[name] = number
    return found
