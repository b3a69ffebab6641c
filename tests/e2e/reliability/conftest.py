"""Fixtures of the reliability tests (faults, crashes, limits): a fresh demo CRM per test (the
tests modify it and turn faults on, so the session-wide ``demo_sandbox`` is not theirs to use)
and the figures each test reports (see ``faults_helpers.Figures``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from faults_helpers import Figures


@pytest.fixture
def demo_crm(sandbox_factory):
    """A sandbox with the demo data (~0.3 s to start), this test's alone."""
    return sandbox_factory(seed="demo")


@pytest.fixture
def figures(request) -> Iterator[Figures]:
    """Counters for the report; written only when RELIABILITY_FIGURES names a file."""
    fig = Figures(request.node.nodeid)
    yield fig
    fig.dump()
