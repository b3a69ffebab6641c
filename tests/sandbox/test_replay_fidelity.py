"""The sandbox answers every recorded real-Vtiger request the way the real server did.

Runs the replay tool of ``../shared/tools/replay`` (written apart from the sandbox, read-only
here) exactly as its README says: a fresh self-hosted sandbox with no data, ``replay.py`` over
the 270 recordings of ``../shared/vtiger-reference``, then ``vtql_corpus.py`` over the 100 VTQL
queries of the corpus. CI has ``../shared`` beside the checkout; without it there is nothing to
compare against and the test says so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vtiger_sandbox.testing import SandboxServer

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
REPLAY = SHARED / "tools" / "replay"
ACCESS_KEY = "fidelitykey123"  # the key the replay tool logs in with by default

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (REPLAY / "replay.py").is_file(),
                       reason=f"no replay tool: {REPLAY} is absent (CI has ../shared beside "
                              "the checkout)"),
]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory) -> tuple[list[dict], dict]:
    """(replay results per recording, VTQL corpus summary and verdicts) of one fresh sandbox."""
    work = tmp_path_factory.mktemp("replay")
    with SandboxServer(work / "replay.sqlite", seed="empty", flavor="self-hosted",
                       access_key=ACCESS_KEY) as server:
        for script in ("replay.py", "vtql_corpus.py"):
            done = subprocess.run(
                [sys.executable, str(REPLAY / script), "--base", server.url,
                 "--user", "admin", "--key", ACCESS_KEY],
                cwd=work, capture_output=True, text=True, timeout=900, check=False)
            assert done.returncode == 0, f"{script} failed:\n{done.stdout[-3000:]}" \
                                         f"\n{done.stderr[-3000:]}"
    results = json.loads((work / "replay-results.json").read_text())
    corpus = json.loads((work / "task3_vtql_replica.json").read_text())
    return results, corpus


def test_every_recording_is_replayed(replayed) -> None:
    results, _ = replayed
    recordings = [p for p in (SHARED / "vtiger-reference").glob("*.json")
                  if p.name != "vtql-corpus.json"]
    assert len(results) == len(recordings) == 270


def test_every_answer_has_the_shape_of_the_real_one(replayed) -> None:
    results, _ = replayed
    differ = {r["file"]: r["diffs"] for r in results if r["verdict"] != "match"}
    assert differ == {}


def test_values_sent_are_stored_as_the_real_server_stores_them(replayed) -> None:
    results, _ = replayed
    assert {r["file"]: r["value_diffs"] for r in results if r["value_diffs"]} == {}


def test_error_messages_are_worded_as_the_real_servers(replayed) -> None:
    results, _ = replayed
    messages = [f"{r['file']}: {n}" for r in results for n in r["notes"]
                if n.startswith("message")]
    assert messages == []


def test_vtql_corpus_verdicts_and_messages_agree(replayed) -> None:
    _, corpus = replayed
    s = corpus["summary"]
    assert s["total"] == 100
    assert [q["query"] for q in corpus["queries"] if not q["verdict_match"]] == []
    assert s["messages_match"] == s["messages_compared"], [
        q["messages"] for q in corpus["queries"] if q.get("message_match") is False]
    assert s["columns_match"] == s["columns_compared"]
