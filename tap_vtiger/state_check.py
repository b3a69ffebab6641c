"""A ``--state`` the tap did not write: one line naming the key, before any API call.

The tap reads its own state back (bookmarks, the sync verdict, the ids of the deletion check)
and trusts its shapes; a hand-edited or foreign state (a bookmark that is a string,
``bookmarks`` as a list, ``checked_at`` as text) is refused here, before any API call, with
every key the tap reads checked against the shape it writes.
"""

from __future__ import annotations

import typing as t

from vtiger_client.errors import ConfigError

#: stream-state key -> {field: expected kind} (kinds: "number", "text", "bool", "object")
_BOXES: dict[str, dict[str, str]] = {
    "vtiger_sync": {"mode": "text", "reason": "text", "checked_at": "number",
                    "gap_from": "number", "complete": "bool"},
    "vtiger_ids": {"known": "text", "gone": "text", "prefix": "text", "checked_at": "number",
                   "check_after": "number", "check_started": "number", "seeding": "bool"},
    "vtiger_emitted": {"second": "text", "digests": "object", "rows": "object"},
}
_KINDS: dict[str, tuple[str, t.Callable[[t.Any], bool]]] = {
    "number": ("a number (unix seconds)",
               lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
    "text": ("text", lambda v: isinstance(v, str)),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "object": ("an object", lambda v: isinstance(v, dict)),
}


def _bad(key: str, expected: str) -> ConfigError:
    return ConfigError("STATE", f"--state: {key} must be {expected}; this state was not "
                       "written by tap-vtiger (fix the key, or run without --state for a full "
                       "extraction)")


def _check_stream_state(where: str, box: t.Any) -> None:
    if not isinstance(box, dict):
        raise _bad(where, "an object")
    partitions = box.get("partitions")
    if partitions is not None:
        if not isinstance(partitions, list):
            raise _bad(f"{where}.partitions", "a list")
        for i, part in enumerate(partitions):
            _check_stream_state(f"{where}.partitions[{i}]", part)
    for name, fields in _BOXES.items():
        inner = box.get(name)
        if inner is None:
            continue
        if not isinstance(inner, dict):
            raise _bad(f"{where}.{name}", "an object")
        for field, kind in fields.items():
            if inner.get(field) is not None and not _KINDS[kind][1](inner[field]):
                raise _bad(f"{where}.{name}.{field}", _KINDS[kind][0])


def check_state(state: t.Any) -> None:
    """Raise ``ConfigError`` naming the first key of ``state`` the tap would stumble on."""
    if not isinstance(state, dict):
        raise _bad("the state", "a JSON object")
    bookmarks = state.get("bookmarks")
    if bookmarks is None:
        return
    if not isinstance(bookmarks, dict):
        raise _bad("bookmarks", "an object of stream name -> bookmark")
    for stream, box in bookmarks.items():
        _check_stream_state(f"bookmarks.{stream}", box)
