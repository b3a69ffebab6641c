"""Fixtures for the sandbox's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandbox_helpers import Rest, WebService

from vtiger_sandbox.testing import SandboxServer


@pytest.fixture(scope="module")
def shared_sandbox(tmp_path_factory) -> Iterator[SandboxServer]:
    """One empty sandbox per test module, for tests that only add their own records."""
    db = tmp_path_factory.mktemp("shared") / "shared.sqlite"
    with SandboxServer(db) as server:
        yield server


@pytest.fixture
def rest(shared_sandbox: SandboxServer) -> Rest:
    return Rest(shared_sandbox)


@pytest.fixture
def ws(shared_sandbox: SandboxServer) -> WebService:
    client = WebService(shared_sandbox)
    client.login()
    return client
