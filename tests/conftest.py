"""Shared fixtures: sandbox servers (see docs/CONTRACTS.md)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from vtiger_sandbox.testing import SandboxServer, reap

# helpers shared by the rooms of the suite (tests/support/*.py), imported by module name
sys.path.insert(0, str(Path(__file__).parent / "support"))

# CI (and `make mutation`) must give the same verdict on every run: examples come from a fixed
# seed and no example database carries failures from one run into the next.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def _reap_sandboxes() -> Iterator[None]:
    """Collect sandbox processes that fixtures stopped without waiting."""
    yield
    reap()


@pytest.fixture(autouse=True)
def _own_discovery_cache(tmp_path_factory, monkeypatch) -> None:
    """Every test starts with an empty tap discovery cache (tap-vtiger keeps listtypes and
    describe answers under $XDG_CACHE_HOME between runs; sandboxes of different tests may
    reuse a port, and call counts of a first run must not depend on test order).
    """
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture
def sandbox(tmp_path) -> Iterator[SandboxServer]:
    """A fresh, empty sandbox per test."""
    server = SandboxServer(tmp_path / "sandbox.sqlite").start()
    yield server
    server.stop(wait=False)


@pytest.fixture(scope="session")
def demo_sandbox(tmp_path_factory) -> Iterator[SandboxServer]:
    """One sandbox with the demo data for the whole session: treat it as read-only."""
    db = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    with SandboxServer(db, seed="demo") as server:
        yield server


@pytest.fixture
def sandbox_factory(tmp_path) -> Iterator[Callable[..., SandboxServer]]:
    """Start sandboxes with custom options: ``sandbox_factory(flavor="self-hosted", ...)``."""
    started: list[SandboxServer] = []

    def make(**kw) -> SandboxServer:
        db = kw.pop("db_path", None) or tmp_path / f"sandbox{len(started)}.sqlite"
        server = SandboxServer(db, **kw).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop(wait=False)
