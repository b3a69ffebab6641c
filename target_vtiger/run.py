"""What every sink of one target run shares, built by the target once its settings are valid.

- **Clients**: one session and one call budget for the whole run (:attr:`TargetRun.client`),
  and the same without retries for ``create`` (:attr:`TargetRun.no_retry_client`).
- **Routing to modules**: the module a stream writes to and its match keys, each module's
  ``describe`` read once (:meth:`TargetRun.module_spec`), the default owner and the API user's
  preferences read at most once.
- **Accounts**: the per-stream summary, the rejects file, the altered-values file.
- **The STATE ledger**: every record gets a number when a sink stages it; a STATE is emitted
  as soon as every record that arrived before it is written or rejected, never twice in a row.
  A streak of records the server fails on stops the run.

Sinks receive the run from the target and depend on this module, never on ``target.py``.
"""

from __future__ import annotations

import json
import threading
import typing as t

from target_vtiger.altered import AlteredWriter
from target_vtiger.rejects import UNREADABLE_INPUT, RejectsWriter, StreamSummary
from target_vtiger.storedform import UserPreferences
from target_vtiger.validation import ModuleSpec
from vtiger_client.config import ClientConfig
from vtiger_client.errors import FatalError, UnknownModuleError, VtigerError
from vtiger_client.session import VtigerClient

#: Records in a row rejected as SERVER_ERROR (no write succeeding between them) after which
#: the run stops: the server fails on everything, and going on would spend the API budget
#: (max_retries + 1 calls each) to reject every record.
SERVER_ERROR_STREAK = 10
#: Parameters of a probe call that cannot change anything (no such record / no lead id).
CLOUD_ONLY_PROBES: dict[str, dict[str, t.Any]] = {
    "tags_retrieve": {"id": "19x0"},
    "convertlead": {"element": {}},
}


class TargetConfigError(Exception):
    """A setting that makes the run impossible; reported in one line, exit code 1."""


class TargetRun:
    """The clients, caches, accounts and STATE ledger of one run, shared by all its sinks.

    Thread-safe: writes of one batch may run in parallel (``write_concurrency``).
    """

    def __init__(
        self,
        config: t.Mapping[str, t.Any],
        client_config: ClientConfig,
        write_state: t.Callable[[dict], None],
    ) -> None:
        """``write_state`` puts one STATE message on the output; the ledger decides when."""
        self.config = config
        self.client_config = client_config
        self.dry_run = bool(config.get("dry_run", False))
        self.rejects = RejectsWriter(config.get("rejects_path"), dry_run=self.dry_run)
        try:  # before the first write, not at the first reject in the middle of the run
            self.rejects.check_writable()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            msg = (f"setting rejects_path: cannot append to {self.rejects.path} ({reason}); "
                   "name a file in a writable folder")
            raise TargetConfigError(msg) from None
        self.altered = AlteredWriter(config.get("altered_path"))
        #: counters of each stream, kept across schema changes (a new sink per SCHEMA)
        self.summaries: dict[str, StreamSummary] = {}
        self._write_state = write_state
        self._lock = threading.RLock()
        self._client: VtigerClient | None = None
        self._no_retry_client: VtigerClient | None = None
        self._specs: dict[str, ModuleSpec] = {}
        self._api_user: dict[str, t.Any] | None = None
        self._default_owner: str | None = None
        self._preferences: UserPreferences | None = None
        #: operation -> whether the server offers it (probed once, when a feature needs it)
        self._offered: dict[str, bool] = {}
        self._server_error_streak = 0
        self._record_seq = 0
        #: sink -> number of its oldest record not yet written or rejected
        self._unsettled: dict[object, int] = {}
        #: STATEs received and not yet emitted, each with the number of the last record
        #: that arrived before it
        self._pending_states: list[tuple[int, dict]] = []
        self._newest_received: dict | None = None
        self._last_written_state: str | None = None

    # ------------------------------------------------------------------ clients

    @property
    def client(self) -> VtigerClient:
        """The one API client of the run, created on first use."""
        with self._lock:
            if self._client is None:
                self._client = VtigerClient(self.client_config)
            return self._client

    @property
    def no_retry_client(self) -> VtigerClient:
        """The run's client without retries, for ``create``: a create whose answer was lost
        may have happened, so the sink checks (by match key) before trying again instead of
        letting a transport-level retry write the record twice. Same session (one login per
        run), counters (one api_budget_percent) and rate state as :attr:`client`.
        """
        with self._lock:
            if self._no_retry_client is None:
                self._no_retry_client = self.client.without_retries()
            return self._no_retry_client

    def api_calls(self) -> dict[str, int]:
        """API calls spent by this run, by operation (both clients share one counter)."""
        return dict(self._client.calls) if self._client is not None else {}

    def require_operation(self, operation: str, feature: str, stream: str | None = None) -> None:
        """Refuse (one line, exit 1) a feature the server cannot serve: self-hosted Vtiger
        lacks Cloud-only operations (tags) and stock 8.2 on PHP 8 crashes on convertlead.
        One probe call per operation and run (:meth:`VtigerClient.offers`), which changes
        nothing on the server; none with ``api_style: rest``, which only Vtiger Cloud serves
        (the open-source edition has no REST API) and Cloud offers them all.
        """
        if self.client_config.api_style == "rest":
            return
        with self._lock:
            if operation not in self._offered:
                probe = CLOUD_ONLY_PROBES[operation]
                self._offered[operation] = self.client.offers(operation, **probe)
            if self._offered[operation]:
                return
        where = f"stream {stream!r}: " if stream else ""
        msg = (f"{where}{feature} needs the {operation} operation, which this Vtiger server "
               "does not offer (HTTP 500 with an empty body: Vtiger Cloud only, or a build "
               f"that crashes on it); remove the stream from the input or from {feature}")
        raise TargetConfigError(msg)

    # ------------------------------------------------------------------ modules

    def module_for(self, stream_name: str) -> str:
        """The Vtiger module a stream writes to (``module_map``, else the stream name)."""
        return (self.config.get("module_map") or {}).get(stream_name, stream_name)

    def match_keys_for(self, stream_name: str) -> list[str]:
        """Fields identifying an existing record when a record has no id (may be empty)."""
        keys = (self.config.get("match_keys") or {}).get(stream_name)
        if keys is None:
            keys = (self.config.get("match_keys") or {}).get(self.module_for(stream_name), [])
        return [k for k in keys if k != "id"]

    def module_spec(self, module: str) -> ModuleSpec:
        """The module's ``describe``, read once per run (an unknown module is a setting error)."""
        with self._lock:
            if module not in self._specs:
                try:
                    describe = self.client.describe(module)
                except UnknownModuleError:
                    raise TargetConfigError(self._unknown_module_message(module)) from None
                self._specs[module] = ModuleSpec.from_describe(describe)
            return self._specs[module]

    def _unknown_module_message(self, module: str) -> str:
        """One line naming the setting to fix: Vtiger answers a describe of a module it does
        not know (or the user may not see) with a bare ACCESS_DENIED.
        """
        streams = sorted(s for s, m in (self.config.get("module_map") or {}).items()
                         if m == module)  # fmt: skip
        where = f"module_map.{streams[0]}" if streams else f"stream {module!r} (no module_map)"
        try:
            available = sorted((self.client.listtypes() or {}).get("types") or [])
        except VtigerError:
            available = []
        hint = f"; available: {', '.join(available)}" if available else ""
        return (f"{where}: unknown module {module!r} (names are case-sensitive; map the stream "
                f"in module_map{hint})")

    def api_user(self) -> dict[str, t.Any]:
        """The API user's record (``me``, or ``retrieve`` of the login's user), read once."""
        with self._lock:
            if self._api_user is None:
                self._api_user = self.client.me()
            return self._api_user

    def default_owner(self) -> str:
        """``assigned_user_id`` for new records without one: setting, else the API user."""
        with self._lock:
            if self._default_owner is None:
                configured = self.config.get("default_owner")
                self._default_owner = configured or str(self.api_user()["id"])
            return self._default_owner

    def user_preferences(self) -> UserPreferences:
        """How the server stores this user's values (currency decimals), read at most once
        per run and only when a value needs them (see target_vtiger.storedform): ``me`` plus,
        where ``me`` leaves the preferences out (Cloud), one ``retrieve`` of the user.
        """
        with self._lock:
            if self._preferences is None:
                user = self.api_user()
                if "no_of_currency_decimals" not in user and user.get("id"):
                    user = self.client.retrieve(str(user["id"]))
                self._preferences = UserPreferences.from_user_record(user)
            return self._preferences

    # ------------------------------------------------------------------ accounts

    def summary_for(self, stream_name: str, module: str) -> StreamSummary:
        """Counters of one stream, kept across schema changes (a new sink per SCHEMA)."""
        with self._lock:
            if stream_name not in self.summaries:
                self.summaries[stream_name] = StreamSummary(stream=stream_name, module=module)
            return self.summaries[stream_name]

    def reject_input(self, stream: str, record: t.Any, code: str, message: str) -> None:
        """Reject input that never reaches a sink: counted in the stream's summary (so the
        run ends non-zero unless allow_rejects) and written to the rejects file.
        """
        module = "" if stream == UNREADABLE_INPUT else self.module_for(stream)
        summary = self.summary_for(stream, module or stream)
        with self._lock:
            summary.rejected += 1
        self.rejects.write(stream, module, record, code, message)

    def close(self) -> None:
        """Close the rejects and altered files (idempotent)."""
        self.rejects.close()
        self.altered.close()

    def note_written(self) -> None:
        """A write succeeded: the server works, whatever it failed on before."""
        with self._lock:
            self._server_error_streak = 0

    def note_server_error(self) -> None:
        """A record was rejected as SERVER_ERROR; stop (FatalError) at the
        SERVER_ERROR_STREAK-th in a row.
        """
        with self._lock:
            self._server_error_streak += 1
            if self._server_error_streak >= SERVER_ERROR_STREAK:
                msg = (f"Vtiger answered HTTP 500 for {SERVER_ERROR_STREAK} records in a row "
                       "and wrote none in between: the server, not the records, looks broken; "
                       "check the server (its PHP error log) before running again")
                raise FatalError("SERVER_ERROR", msg)

    # ------------------------------------------------------------------ the STATE ledger

    def stage(self, sink: object) -> None:
        """Number the next record, which ``sink`` holds until it is settled."""
        with self._lock:
            self._record_seq += 1
            self._unsettled.setdefault(sink, self._record_seq)

    def settled(self, sink: object) -> None:
        """Every record ``sink`` held is written or rejected: emit the STATE that became safe."""
        with self._lock:
            self._unsettled.pop(sink, None)
        self.emit_safe_state()

    def state_received(self, state: dict) -> None:
        """A STATE arrived after every record numbered so far; emitted once those settle.

        A long run killed midway then restarts from its last settled batch, not from the
        beginning. Records arriving after the STATE may still be in flight; that is fine, they
        come again on a re-run and are matched.
        """
        with self._lock:
            self._newest_received = state
            self._pending_states.append((self._record_seq, state))
        self.emit_safe_state()

    def emit_safe_state(self) -> None:
        """Write the newest STATE whose preceding records are all settled."""
        with self._lock:
            first_unsettled = min(self._unsettled.values(), default=None)
            safe = None
            while self._pending_states and (
                first_unsettled is None or self._pending_states[0][0] < first_unsettled
            ):
                safe = self._pending_states.pop(0)[1]
            if safe is not None:
                self.write_state(safe)

    def write_state(self, state: dict) -> None:
        """Write a STATE unless it repeats the last one written (the end of input re-sends
        the newest).
        """
        text = json.dumps(state, sort_keys=True)
        with self._lock:
            if text == self._last_written_state:
                return
            self._last_written_state = text
            if state == self._newest_received:
                # the newest STATE received: every older pending one is now obsolete, and
                # emitting one of those later would move the bookmark backwards
                self._pending_states.clear()
            self._write_state(state)
