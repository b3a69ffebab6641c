"""Fixtures of the end-to-end pipeline tests: plugins installed once, PostgreSQL, meltano.

Every test module here carries `pytestmark = PIPELINE` (slow, one xdist group: they share the
installed plugins in .meltano/ and keep the machine's two cores for one pipeline at a time).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import Meltano, ensure_plugins
from pgserver import PostgresServer


@pytest.fixture(scope="session")
def meltano_plugins() -> float:
    """Seconds `meltano install` took (0.0 when the plugins were already up to date)."""
    return ensure_plugins()


@pytest.fixture
def server_tmp_path() -> Iterator[Path]:
    """A fresh directory for a PostgreSQL data directory, outside pytest's own temporary
    root: that root is 0700, and every pytest session started on the machine sets it back to
    0700, which would shut out the server's (non-root) user mid-test.
    """
    path = Path(tempfile.mkdtemp(prefix="vtiger-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server of the tests' own on a free port."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="module")
def meltano_factory(meltano_plugins, tmp_path_factory):
    """Meltano runners with private state (system database) and outputs."""

    def make(name: str = "meltano", **env: str) -> Meltano:
        return Meltano(workdir=tmp_path_factory.mktemp(name), env=dict(env))

    return make
