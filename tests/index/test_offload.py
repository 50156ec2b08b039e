"""Tokenising and embedding in helper processes (`rag.index.offload`): the same results as in-process, helpers
that are replaced when they die, errors raised here, and helpers that end with the process that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag import Library
from rag.errors import StoreError
from rag.index.embedders import make_embedder
from rag.index.lexical import LexicalIndex
from rag.index.offload import ForegroundGate, IndexingHelper

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Written for this test (not from any document); the third has a one-letter syllable and a number with a slash.
TEXTS = [
    "Tăng cường ứng dụng trí tuệ nhân tạo trong cơ quan Đảng.",
    "Hoàn thiện thể chế, chính sách về khoa học, công nghệ và đổi mới sáng tạo.",
    "Cán bộ ở cơ sở quán triệt Nghị quyết 57-NQ/TW trước quý IV.",
]
TITLES = ["Kế hoạch thử nghiệm", "", "Mục 2. Nhiệm vụ"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def test_helper_tokenises_and_embeds_exactly_as_this_process_does() -> None:
    tokenizer, embedder = IndexingHelper(name="tok"), IndexingHelper("hash:64", name="emb")
    try:
        mine, theirs = LexicalIndex.tokenize(TEXTS, TITLES), tokenizer.tokenize(TEXTS, TITLES)
        for field in ("ids", "id_hashes", "id_bigram", "docs", "tf", "lengths"):
            assert np.array_equal(getattr(mine, field), getattr(theirs, field)), field
        expected = make_embedder("hash:64").embed_documents(TEXTS)
        got = embedder.embed_documents(TEXTS)
        assert got.dtype == np.float32 and got.shape == (3, 64)
        assert np.array_equal(got, expected)
        # The helper runs only on CPU time nothing else wants.
        assert embedder.pid is not None
        policy = subprocess.run(["chrt", "-p", str(embedder.pid)], capture_output=True, text=True).stdout
        assert "SCHED_IDLE" in policy or not policy
    finally:
        tokenizer.close()
        embedder.close()


def test_a_dead_helper_is_started_again_and_errors_come_back_as_store_errors() -> None:
    helper = IndexingHelper(name="tok")
    try:
        helper.tokenize(TEXTS[:1], None)
        first = helper.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        time.sleep(0.2)
        batch = helper.tokenize(TEXTS[:2], None)  # found dead, started again, answered
        assert batch.lengths.size == 2 and helper.pid not in (None, first)
        with pytest.raises(StoreError) as caught:
            helper.embed_documents(TEXTS)  # this helper has no embedder
        assert "không" in caught.value.user_message or "lỗi" in caught.value.user_message
        assert helper.tokenize(TEXTS, TITLES).lengths.size == 3  # and it goes on after an error
    finally:
        helper.close()
    assert helper.pid is None


def test_an_offloading_store_indexes_what_an_in_process_one_does(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(TEXTS):
        (docs / f"vb-{i}.txt").write_text(f"Văn bản thử {i}\n\n{text}\n", encoding="utf-8")
    with Library(tmp_path / "plain", embedder="hash:64") as plain:
        plain.ingest([docs])
        want = [(h.paragraph.paragraph_id, round(h.score, 6)) for h in plain.search("trí tuệ nhân tạo ở cơ sở", k=5)]
        want_dense = [h.paragraph.paragraph_id for h in plain.search("đổi mới sáng tạo", k=3, mode="dense")]
    with Library(tmp_path / "off", embedder="hash:64", background_vectors=True, offload=True) as library:
        library.ingest([docs])
        store = library.store
        assert store._vector_worker is not None
        store._vector_worker.join(30)
        assert library.pending_vectors() == 0
        helpers = store.helpers()
        assert len(helpers) == 2 and all(h.pid is not None for h in helpers)
        got = [(h.paragraph.paragraph_id, round(h.score, 6)) for h in library.search("trí tuệ nhân tạo ở cơ sở", k=5)]
        assert got == want
        assert [h.paragraph.paragraph_id for h in library.search("đổi mới sáng tạo", k=3, mode="dense")] == want_dense
        pids = [h.pid for h in helpers]
    assert not any(_alive(p) for p in pids if p is not None), "a helper outlived its library"


def _state(pid: int, want: str | None = None) -> str:
    """The process's state letter; with `want`, after waiting up to 2 s for it (a signal takes a moment)."""
    deadline = time.monotonic() + 2
    while True:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if want is None or state == want or time.monotonic() > deadline:
            return state
        time.sleep(0.01)


def test_the_gate_pauses_helpers_while_requests_run_within_its_budget() -> None:
    helper = IndexingHelper(name="tok")
    gate = ForegroundGate(lambda: [helper], window_s=1.0, max_paused_share=0.5)
    try:
        helper.tokenize(TEXTS, None)
        pid = helper.pid
        assert pid is not None
        with gate.held():
            assert gate.paused and _state(pid, "T") == "T"
            with gate.held():  # a second request at the same time
                assert _state(pid, "T") == "T"
            assert _state(pid) == "T"  # still one in progress
        assert not gate.paused and _state(pid, "S") == "S"
        assert helper.tokenize(TEXTS, None).lengths.size == 3
        # Requests that never stop: past half of the window the helper runs again.
        with gate.held():
            time.sleep(0.6)
            with gate.held():
                assert not gate.paused and _state(pid, "S") == "S"
        time.sleep(1.0)  # a new window
        with gate.held():
            assert gate.paused
    finally:
        helper.close()
    assert not _alive(pid)


_PARENT = """
import sys
from rag.index.offload import ForegroundGate, IndexingHelper
helper = IndexingHelper(name="tok")
helper.tokenize(["Văn bản thử"], None)
hold = ForegroundGate(lambda: [helper], window_s=3600).held()
if sys.argv[1] == "paused":
    hold.__enter__()  # a request in progress: the helper is stopped
print(helper.pid, flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize("while_", ["running", "paused"])
def test_helpers_die_with_their_parent(while_: str) -> None:
    """A parent killed with SIGKILL (no chance to close anything): its helper exits within seconds, also when a
    request held it paused (it cannot watch its parent then: the kernel's SIGHUP to its orphaned group ends it)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, while_], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert parent.stdout is not None
        helper = int(parent.stdout.readline())
        assert _alive(helper) and (while_ == "running" or _state(helper, "T") == "T")
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 5
        while _alive(helper) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(helper), f"a {while_} helper outlived its parent"
    finally:
        parent.kill()


#: A supervisor that adopts orphans (a child subreaper in the service's session, as tini -s or a process manager
#: can be): a helper's process group is then not orphaned when its parent dies, so no SIGHUP ever comes.
_SUPERVISOR = """
import ctypes, os, subprocess, sys, time
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
parent = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True)
helper = int(parent.stdout.readline())
state = open(f"/proc/{helper}/stat").read().rsplit(")", 1)[1].split()[0]
parent.kill()
parent.wait()
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    try:
        if os.waitpid(helper, os.WNOHANG)[0] == helper:  # adopted by this process: reap it
            break
    except ChildProcessError:
        break
    time.sleep(0.05)
else:
    os.kill(helper, 9)
    os.waitpid(helper, 0)
    print(state, "alive")
    sys.exit(0)
print(state, "dead")
"""

#: Starts its helper from a short-lived thread, as a request does, then stops it as a request in progress does.
_PARENT_OF_A_STOPPED_HELPER = """
import os, signal, sys, threading, time
from rag.index.offload import ForegroundGate, IndexingHelper
helper = IndexingHelper(name="tok")
request = threading.Thread(target=lambda: helper.tokenize(["Văn bản thử"], None))
request.start()
request.join()
hold = ForegroundGate(lambda: [helper], window_s=3600).held()
hold.__enter__()
deadline = time.monotonic() + 5
while open(f"/proc/{helper.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "T" and time.monotonic() < deadline:
    time.sleep(0.01)
print(helper.pid, flush=True)
sys.stdin.read()
"""


def test_a_stopped_helper_dies_with_its_parent_when_no_sighup_comes() -> None:
    """The orphaned-group SIGHUP is not enough: under a subreaper in the session (and on a loaded machine, before
    every thread of the helper has stopped) it never comes, and a helper stopped by a request stayed stopped for
    good. The kernel's parent-death SIGKILL ends it; it is tied to the lasting thread that starts helpers, so the
    end of the request thread that first needed the helper does not end it."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _SUPERVISOR, _PARENT_OF_A_STOPPED_HELPER],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["T", "dead"], done.stdout + done.stderr
