"""vtiger_client.errors: Vtiger error codes map to the classes callers decide on."""

from __future__ import annotations

import pytest

from vtiger_client.errors import (
    AuthenticationError,
    FatalError,
    QuerySyntaxError,
    RateLimitError,
    RecordError,
    RetryableError,
    UnknownModuleError,
    VtigerError,
    error_from_payload,
    scrub,
)


@pytest.mark.parametrize(
    ("code", "status", "operation", "cls"),
    [
        ("INVALID_USER_CREDENTIALS", 401, "me", AuthenticationError),
        ("AUTHENTICATION_REQUIRED", 401, "describe", AuthenticationError),
        ("INVALID_SESSIONID", None, "query", AuthenticationError),
        ("ACCESS_DENIED", None, "describe", UnknownModuleError),
        ("ACCESS_DENIED", None, "sync", UnknownModuleError),
        ("ACCESS_DENIED", None, "retrieve", RecordError),
        ("ACCESS_DENIED", None, "delete", RecordError),
        ("ACCESS_DENIED", None, "query", QuerySyntaxError),
        ("MANDATORY_FIELDS_MISSING", 400, "create", RecordError),
        ("REFERENCE_INVALID", None, "create", RecordError),
        ("INVALID_ID_ATTRIBUTE", 400, "retrieve", RecordError),
        ("QUERY_SYNTAX_ERROR", 400, "query", QuerySyntaxError),
        ("TOO_MANY_REQUESTS", 429, "query", RateLimitError),
        (None, 502, "sync", RetryableError),
        ("INTERNAL_SERVER_ERROR", 500, "describe", RetryableError),
    ],
)
def test_codes_map_to_classes(code, status, operation, cls):
    err = error_from_payload(code, "message", status, operation)
    assert type(err) is cls
    assert err.operation == operation


def test_fatal_family():
    assert issubclass(AuthenticationError, FatalError)
    assert issubclass(UnknownModuleError, FatalError)
    assert issubclass(RateLimitError, RetryableError)
    assert not issubclass(RecordError, FatalError)


def test_str_is_one_line_and_masks_secrets():
    err = VtigerError("X", "bad\nthing accessKey=abc123 sessionName: s3cr3t", 500, "login")
    text = str(err)
    assert "\n" not in text
    assert "abc123" not in text and "s3cr3t" not in text
    assert text.startswith("login: X: bad thing")


def test_scrub_keeps_ordinary_text():
    assert scrub("Permission to perform the operation is denied") == (
        "Permission to perform the operation is denied")
