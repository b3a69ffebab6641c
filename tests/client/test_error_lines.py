"""What a user sees when the server is not there or drops connections: one clear line.

Real sockets, no mocked HTTP: a closed port refuses, a listener that hangs up drops.
"""

from __future__ import annotations

import logging
import socket
import threading

import pytest

from vtiger_client.config import ClientConfig
from vtiger_client.errors import FatalError, RetryableError
from vtiger_client.session import VtigerClient


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_for(port: int, sleeps: list[float]) -> VtigerClient:
    config = ClientConfig.from_mapping({
        "api_url": f"http://127.0.0.1:{port}", "username": "admin", "access_key": "k",
        "max_retries": 3,
    })  # fmt: skip
    return VtigerClient(config, sleep=sleeps.append)


@pytest.fixture
def hang_up_port():
    """A listener that accepts every connection and closes it without answering."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_a_refused_first_connection_fails_at_once_naming_host_and_port():
    sleeps: list[float] = []
    port = closed_port()
    client = client_for(port, sleeps)
    with pytest.raises(FatalError) as failed:
        client.listtypes()
    assert failed.value.code == "CONNECTION_REFUSED"
    assert f"127.0.0.1:{port}" in str(failed.value) and "api_url" in str(failed.value)
    assert client.calls["listtypes"] == 1 and sleeps == []  # no retries, no waiting


def test_a_retry_warning_names_the_operation_once(hang_up_port, caplog):
    sleeps: list[float] = []
    client = client_for(hang_up_port, sleeps)
    with caplog.at_level(logging.WARNING), pytest.raises(RetryableError):
        client.listtypes()
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 3 and len(sleeps) == 3
    for line in retries:
        assert line.count("listtypes") == 1, line
        assert f"127.0.0.1:{hang_up_port}" in line
