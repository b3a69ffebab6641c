"""API Designer webhook mode: records are POSTed to a webhook an admin defined in API Designer,
instead of going through the core API (create/revise one call per record).

Settings::

    "webhook_url": "contacts_in",          # path under <api_url>/restapi/vtap/webhook/, or the
                                           # full URL API Designer shows
    "webhook_token": "...",                # the webhook's token (secret, never logged)
    "webhook_token_placement": "header",   # or "query", as chosen in API Designer > Security
    "webhook_batch_size": 50,              # >1 only for a <create bulk="true"> / <upsert
                                           # bulk="true"> definition; Vtiger takes up to 50
    "webhook_streams": ["Contacts"]        # default: every stream of the run except link
                                           # and tag streams

One request per record (``webhook_batch_size`` 1) sends the record as the JSON body. Bulk
requests send ``{"records": [...]}``: 1,000 records cost 20 calls instead of 1,000. When the
server refuses a bulk request because of one record, the request is split in halves until the
bad record is alone and rejected (a few extra calls, not a lost batch). A webhook whose
definition is not bulk refuses the first multi-record request; the sink then sends one record
per request for the rest of the run, with a warning.

The token goes only into the ``token`` header (or query parameter). It is scrubbed from every
message this module logs or writes to the rejects file; a wrong or missing token stops the run
with one line (AUTHENTICATION error), the token not in it. Records carrying
``_sdc_deleted_at`` are skipped: a webhook creates or updates.

Never written twice: a request whose answer was lost (timeout, dropped connection, a 5xx other
than 503, a truncated body) may have been carried out, and a ``<create>`` webhook sent it again
would create duplicates. Such records are rejected as ``WEBHOOK_UNCONFIRMED`` (kept in the
rejects file with the reason) unless ``webhook_idempotent`` says the definition upserts; 429
and 503, which refuse before any work, are retried with backoff either way.
"""

from __future__ import annotations

import logging
import typing as t
from urllib.parse import urlsplit

from singer_sdk import typing as th

from target_vtiger.sinks.base import RunSink
from vtiger_client.errors import FatalError, RetryableError, VtigerError, refused_before_work
from vtiger_client.session import BULK_LIMIT
from vtiger_client.types import InvalidValue, wire_value

WEBHOOK_PREFIX = "/restapi/vtap/webhook/"
#: Answers to a multi-record request meaning "this webhook takes fewer records per request".
NOT_BULK_CODES = ("INVALID_PARAMETER", "LIMIT_EXCEEDED")

WEBHOOK_SETTINGS = [
    th.Property(
        "webhook_url",
        th.StringType,
        description="API Designer webhook to post records to instead of the core API: the path "
        "under /restapi/vtap/webhook/ or the full URL.",
    ),
    th.Property(
        "webhook_token",
        th.StringType,
        secret=True,
        description="The webhook's token (API Designer > Security). Never logged.",
    ),
    th.Property(
        "webhook_token_placement",
        th.StringType,
        default="header",
        allowed_values=["header", "query"],
        description="Send the token as a `token` header or query parameter, as configured "
        "in API Designer.",
    ),
    th.Property(
        "webhook_batch_size",
        th.IntegerType,
        default=1,
        description="Records per request: 1, or up to 50 when the webhook's definition is "
        'bulk (<create bulk="true">, <upsert bulk="true">).',
    ),
    th.Property(
        "webhook_idempotent",
        th.BooleanType,
        default=False,
        description="The webhook upserts (an <upsert> definition matching on a <where> "
        "field), so a request whose answer was lost may be sent again. Default: such records "
        "(timeout, dropped connection, 5xx other than 503, truncated answer) are rejected as "
        "WEBHOOK_UNCONFIRMED, never sent twice; 429 and 503 are always retried.",
    ),
    th.Property(
        "webhook_streams",
        th.ArrayType(th.StringType),
        description="Streams sent to the webhook (default: every stream when webhook_url is "
        "set, except link and tag streams, which keep their own sinks).",
    ),
]


def webhook_path(webhook_url: str, api_url: str) -> str:
    """The webhook's path under /restapi/vtap/webhook/, from a path or a full URL."""
    text = webhook_url.strip()
    if "://" not in text:
        path = text
        if path.startswith(WEBHOOK_PREFIX):
            path = path[len(WEBHOOK_PREFIX):]
        return path.strip("/")
    url, base = urlsplit(text), urlsplit(api_url)
    if (url.scheme, url.netloc) != (base.scheme, base.netloc):
        msg = "webhook_url must be on the same Vtiger instance as api_url"
        raise ValueError(msg)
    if not url.path.startswith(WEBHOOK_PREFIX):
        msg = "webhook_url must be an API Designer webhook URL (.../restapi/vtap/webhook/<path>)"
        raise ValueError(msg)
    return url.path[len(WEBHOOK_PREFIX):].strip("/")


def wire_body(record: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A record as a webhook body: wire texts, SDK metadata and nulls left out (API Designer
    treats an absent parameter and an empty one alike: the field is not written).
    """
    return {k: wire_value(v) for k, v in record.items()
            if v is not None and not k.startswith("_sdc_")}


def check_webhook_settings(config: t.Mapping[str, t.Any]) -> None:
    """Raise ValueError naming the setting when webhook mode is misconfigured."""
    if not config.get("webhook_url"):
        return
    if not config.get("webhook_token"):
        msg = "webhook_token is required with webhook_url"
        raise ValueError(msg)
    size = int(config.get("webhook_batch_size") or 1)
    if not 1 <= size <= BULK_LIMIT:
        msg = f"webhook_batch_size must be between 1 and {BULK_LIMIT}, got {size}"
        raise ValueError(msg)
    webhook_path(str(config["webhook_url"]), str(config.get("api_url", "")))


def uses_webhook(
    config: t.Mapping[str, t.Any], stream_name: str, *, listed_only: bool = False
) -> bool:
    """Whether a stream goes to the webhook: the streams in ``webhook_streams``, else every
    record stream (the target asks with ``listed_only`` before routing link and tag streams to
    their own sinks, so without a list those never end up posted to a records webhook).
    """
    if not config.get("webhook_url"):
        return False
    streams = config.get("webhook_streams")
    if streams is None:
        return not listed_only
    return stream_name in streams


class TokenFilter(logging.Filter):
    """Masks the token in log records of libraries that log request URLs (urllib3 at DEBUG
    prints ``POST /restapi/vtap/webhook/x?token=...``).
    """

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record without the token; never drop it."""
        if self.token:
            text = record.getMessage()
            if self.token in text:
                record.msg, record.args = text.replace(self.token, "***"), ()
        return True


#: Loggers that may print a request URL.
URL_LOGGERS = ("urllib3.connectionpool", "requests")


class WebhookSink(RunSink):
    """Records in, POSTs to an API Designer webhook out (bulk where allowed)."""

    destination = "webhook"

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.path = webhook_path(str(self.config["webhook_url"]), str(self.config["api_url"]))
        self.batch_size = int(self.config.get("webhook_batch_size") or 1)
        self.placement = str(self.config.get("webhook_token_placement") or "header")
        self.idempotent = bool(self.config.get("webhook_idempotent", False))
        if self._token:
            for name in URL_LOGGERS:
                logger = logging.getLogger(name)
                if not any(isinstance(f, TokenFilter) and f.token == self._token
                           for f in logger.filters):
                    logger.addFilter(TokenFilter(self._token))

    @property
    def _token(self) -> str:
        return str(self.config.get("webhook_token") or "")

    def scrub(self, text: str) -> str:
        """``text`` with the token replaced (error messages may echo a URL with it)."""
        token = self._token
        return text.replace(token, "***") if token else text

    def settle(self, records: list[dict]) -> None:
        """Send the batch in chunks of ``webhook_batch_size``."""
        ready = []
        for record in records:
            if record.get("_sdc_deleted_at"):
                self.count("skipped")
                continue
            try:
                ready.append(wire_body(record))
            except InvalidValue as exc:  # e.g. NaN, which no wire text can carry
                self.reject(record, exc.code, exc.message)
        for i in range(0, len(ready), self.batch_size):
            self._send(ready[i : i + self.batch_size])

    def _send(self, chunk: list[dict]) -> None:
        if not chunk:
            return
        if self.dry_run:
            self.count("created", len(chunk))
            return
        # one record goes as the body itself (every definition takes that); several as
        # {"records": [...]} (bulk definitions only)
        body: t.Any = chunk[0] if len(chunk) == 1 else {"records": chunk}
        try:
            answer = self.client.webhook(self.path, body, self._token, placement=self.placement,
                                         resend_unconfirmed=self.idempotent)
        except FatalError as err:
            # one line, token-free, then stop: a wrong token will not get better
            raise type(err)(
                err.code, self.scrub(err.message), err.http_status, err.operation
            ) from None
        except RetryableError as err:
            # Not split and re-sent like a refused request: the server may have written it.
            self._unconfirmed(chunk, err)
            return
        except VtigerError as err:
            if len(chunk) > 1 and err.code in NOT_BULK_CODES:
                # the definition is not bulk: one record per request from now on (one wasted
                # call per run, and a warning saying which setting avoids it)
                self.logger.warning(
                    "webhook %s refused %d records in one request (%s): its definition is "
                    "not bulk; sending one record per request. Set webhook_batch_size to 1.",
                    self.path, len(chunk), err.code,
                )
                self.batch_size = 1
                for record in chunk:
                    self._send([record])
                return
            if len(chunk) > 1:  # isolate the bad record(s): halves, recursively
                half = len(chunk) // 2
                self._send(chunk[:half])
                self._send(chunk[half:])
                return
            self.reject(chunk[0], err.code, self.scrub(err.message))
            return
        self._account(chunk, answer)

    def _unconfirmed(self, chunk: list[dict], err: t.Any) -> None:
        """Keep every record of a request that failed in transit, with the reason."""
        if refused_before_work(err):  # retries ran out, but nothing was written
            code, message = err.code, f"the webhook kept refusing ({err.code}): not written"
        else:
            code = "WEBHOOK_UNCONFIRMED"
            advice = ("the retries ran out" if self.idempotent else "set webhook_idempotent "
                      "for an <upsert> webhook to resend it")
            message = (f"the answer to the webhook request was lost ({err.code}): Vtiger may or "
                       f"may not hold the record; check before re-sending it ({advice})")
        for record in chunk:
            self.reject(record, code, self.scrub(message))

    def _account(self, chunk: list[dict], answer: t.Any) -> None:
        """Count what the webhook says it did; rows it reports as failed are rejected."""
        rows = answer if isinstance(answer, list) else (
            answer.get("records") if isinstance(answer, dict) and
            isinstance(answer.get("records"), list) else None
        )
        if rows is None or len(rows) != len(chunk):
            status = answer.get("status") if isinstance(answer, dict) else None
            self.count("updated" if status == "updated" else "created", len(chunk))
            return
        for record, row in zip(chunk, rows, strict=False):
            if isinstance(row, dict) and (row.get("success") is False or row.get("error")):
                err = row.get("error") or {}
                code = err.get("code", "WEBHOOK_RECORD_FAILED") if isinstance(err, dict) else (
                    "WEBHOOK_RECORD_FAILED")
                message = err.get("message", str(err)) if isinstance(err, dict) else str(err)
                self.reject(record, code, self.scrub(str(message)))
            elif isinstance(row, dict) and row.get("status") == "updated":
                self.count("updated")
            else:
                self.count("created")
