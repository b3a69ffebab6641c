"""Vtiger-style API errors raised by the sandbox's backend.

Backend methods raise :class:`VtigerApiError`; the HTTP layer turns it into the envelope
``{"success": false, "error": {"code", "message"}}`` with the status each API style uses
(REST: ``http_status``; ``webservice.php``: always 200), so the backend stays HTTP-free.
"""

from __future__ import annotations


class VtigerApiError(Exception):
    """An error the API reports to its caller, with Vtiger's code and message."""

    def __init__(self, code: str, message: str, http_status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status

    def envelope(self) -> dict:
        """The JSON body Vtiger sends for this error."""
        return {"success": False, "error": {"code": self.code, "message": self.message}}


def access_denied(message: str = "Permission to perform the operation is denied") -> VtigerApiError:
    """Vtiger's catch-all for unknown modules, columns and records (see vtiger-notes.md)."""
    return VtigerApiError("ACCESS_DENIED", message, 403)


def query_syntax_error(message: str) -> VtigerApiError:
    """A VTQL statement the server's grammar rejects."""
    return VtigerApiError("QUERY_SYNTAX_ERROR", message, 400)


def internal_error(message: str = "Internal server error") -> VtigerApiError:
    """What Vtiger answers for text its tokenizer cannot handle (double quotes, bare '')."""
    return VtigerApiError("INTERNAL_SERVER_ERROR", message, 500)
