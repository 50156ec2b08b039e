"""Crash safety: kill `vankien ingest` / `vankien remove` with SIGKILL at random moments and check what survives.

Each run starts a real CLI process on an index built from small Vietnamese documents generated here (adds of new
files, replaces of changed files, whole-folder ingests, removes), kills it with SIGKILL either after a random delay
or deliberately inside a snapshot write (the `VANKIEN_PAUSE_AT` hook of `rag.index.durable.pause_point` makes the
process announce a named point on stderr and wait there), then opens the index with `Library` as a restarted
process would and checks:

* `Catalog.integrity_problems()` is empty, and the snapshots on disk load (no "unusable snapshot" rebuild);
* the lexical index, the vector index (when the index has an embedder) and the document table hold exactly the
  catalog's paragraph ids;
* every document is either its old or its new version, never something else; a document whose commit the killed
  process had reported (the "committed" log line, or the final --json report) is there in that version; a removal
  it reported is done; documents the run did not touch are unchanged;
* every version of every document ever generated is searched for by its canary word (planted in its title, so in
  the indexed context of every paragraph): the present version returns exactly its paragraphs, every other version
  (replaced, removed, or half-ingested when the process died) returns nothing.

Two indexes are used, one without embedder and one with `hash:64`, so vector snapshots are exercised too.

    .venv/bin/python -m tools.kill_ingest --runs 120 --seed 7

Prints one JSON object: runs, kills, inconsistencies (must be 0) with the details of any, and counts by operation,
by kill point and by embedder. Exit status 1 when there is any inconsistency.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.index.durable import PAUSE_ENV
from rag.pipeline import Library

ROOT = Path(__file__).resolve().parent.parent

EMBEDDERS = ("none", "hash:64")
#: Named points inside an ingest where a run may be killed (see `rag.index.durable.pause_point`); "@n" = n-th arrival.
#: Each index goes through its list in order (snapshot writes first, so that a short run covers them), then
#: picks at random.
INGEST_POINTS = (
    "lexical.before_manifest",
    "ingest.committed@2",
    "lexical.temp_written@4",
    "store.between_snapshots",
    "lexical.before_cleanup",
    "store.apply",
    "ingest.committed@1",
    "lexical.temp_written@1",
    "lexical.temp_written@9",
    "lexical.segment_written",
)
VECTOR_POINTS = ("vectors.before_manifest", "vectors.temp_written", "vectors.before_cleanup")
#: Operations and their weights.
OPERATIONS = {"add": 3, "replace": 4, "folder": 2, "remove": 2}
PROCESS_TIMEOUT_S = 120.0
PAUSE_WAIT_S = 60.0
COMMITTED_RE = re.compile(r"^INFO rag\.pipeline: committed (.+) as (\S+) \((ok|replaced), (\d+) paragraphs\)$")
SNAPSHOT_WARNING_RE = re.compile(r"snapshot (unusable|is ahead)")
MAX_PARAGRAPHS = 150
SEARCH_K = 200  # > MAX_PARAGRAPHS + header paragraphs: a canary search returns every paragraph of its document

_CONSONANTS = "bcdfgklmnpqrstvxz"
_VOWELS = "aeiou"


# -- documents ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Version:
    """One version of one source file."""

    name: str
    canary: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def _canary(rng: random.Random, taken: set[str]) -> str:
    while True:
        word = "zq" + "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(3))
        if word not in taken:
            taken.add(word)
            return word


def make_document(rng: random.Random, number: int, canary: str) -> str:
    """A small resolution (written for this test, not an official text); its canary is in the title and body."""
    n = rng.randint(20, MAX_PARAGRAPHS - 10)
    topics = ["chuyển đổi số", "kinh tế tư nhân", "giáo dục đào tạo", "hội nhập quốc tế", "y tế cơ sở"]
    topic = rng.choice(topics)
    lines = [
        "BAN CHẤP HÀNH TRUNG ƯƠNG",
        f"Số {number}-NQ/TW",
        f"Hà Nội, ngày {rng.randint(1, 28)} tháng {rng.randint(1, 12)} năm 2025",
        "NGHỊ QUYẾT",
        "CỦA BỘ CHÍNH TRỊ",
        f"về {topic} và kho dữ liệu {canary}",
        "Tài liệu thử nghiệm do nhóm Văn Kiện soạn, không phải văn bản chính thức.",
        "I. NHIỆM VỤ",
    ]
    for i in range(1, n + 1):
        lines.append(
            f"{i}. Nhiệm vụ {i} về {topic}: đơn vị số {rng.randint(1, 99)} triển khai kho {canary} "
            f"trước năm {rng.randint(2026, 2035)}, báo cáo kết quả hằng quý."
        )
    return "\n".join(lines) + "\n"


# -- one index and what it should hold ------------------------------------------------------------------------------


@dataclass
class World:
    """An index directory, its source folder, and the expected state of every source."""

    embedder: str
    root: Path
    rng: random.Random
    canaries: set[str]
    next_number: int
    on_disk: dict[str, Version] = field(default_factory=dict)  # current content of each source file
    expected: dict[str, Version | None] = field(default_factory=dict)  # what the catalog must hold per source
    versions: list[Version] = field(default_factory=list)  # every version ever written
    durations: list[float] = field(default_factory=list)
    pauses: int = 0

    def pause_point(self) -> str:
        """The next kill point of this index's cycle (vector points interleaved when it has vectors)."""
        points = list(INGEST_POINTS)
        if self.embedder != "none":
            for i, point in enumerate(VECTOR_POINTS):
                points.insert(1 + 2 * i, point)
        point = points[self.pauses] if self.pauses < len(points) else self.rng.choice(points)
        self.pauses += 1
        return point

    @property
    def src(self) -> Path:
        return self.root / "src"

    @property
    def index(self) -> Path:
        return self.root / "index"

    def path(self, name: str) -> Path:
        return self.src / name

    def new_file(self) -> Version:
        number = self.next_number
        self.next_number += 1
        name = f"nq-{number}.{self.rng.choice(['txt', 'md'])}"
        return self.write(name, number)

    def rewrite(self, name: str) -> Version:
        number = int(re.findall(r"\d+", name)[0])
        return self.write(name, number)

    def write(self, name: str, number: int) -> Version:
        version = Version(name, _canary(self.rng, self.canaries), "")
        version = Version(name, version.canary, make_document(self.rng, number, version.canary))
        self.path(name).write_text(version.text, encoding="utf-8")
        self.on_disk[name] = version
        self.versions.append(version)
        return version

    def present(self) -> list[str]:
        return sorted(n for n, v in self.expected.items() if v is not None)

    def typical_duration(self) -> float:
        recent = self.durations[-10:]
        return max(0.5, sum(recent) / len(recent)) if recent else 2.0


# -- running the CLI ---------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    returncode: int | None
    killed: bool
    stdout: str
    stderr: list[str]
    duration: float
    orphans: int


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text()
            out.extend(int(x) for x in text.split())
    except OSError:
        pass
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def run_cli(args: list[str], *, pause_at: str | None, kill_after: float | None) -> Outcome:
    """Run `python -m rag ARGS`; kill it with SIGKILL at the pause point or after `kill_after` seconds."""
    env = {k: v for k, v in os.environ.items() if k not in {PAUSE_ENV, "VANKIEN_INDEX"}}
    if pause_at:
        env[PAUSE_ENV] = pause_at
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        start_new_session=True,
    )
    lines: list[str] = []
    out: list[str] = []
    paused = threading.Event()

    def read_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if line.startswith("VANKIEN_PAUSED"):
                paused.set()

    def read_out() -> None:
        assert proc.stdout is not None
        out.append(proc.stdout.read())

    readers = [threading.Thread(target=read_err, daemon=True), threading.Thread(target=read_out, daemon=True)]
    for t in readers:
        t.start()
    killed = False
    children: list[int] = []
    deadline = started + PROCESS_TIMEOUT_S
    if pause_at:
        while proc.poll() is None and not paused.wait(0.02) and time.monotonic() < started + PAUSE_WAIT_S:
            pass
        if paused.is_set() and proc.poll() is None:
            children = _children(proc.pid)
            proc.send_signal(signal.SIGKILL)
            killed = True
    elif kill_after is not None:
        while proc.poll() is None and time.monotonic() < started + kill_after:
            time.sleep(0.005)
        if proc.poll() is None:
            children = _children(proc.pid)
            proc.send_signal(signal.SIGKILL)
            killed = True
    try:
        proc.wait(max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:  # a hung process is a finding: kill it and report
        proc.kill()
        proc.wait()
        lines.append("HUNG: the process did not finish in time")
    duration = time.monotonic() - started
    for t in readers:
        t.join(10)
    orphans = 0
    if children:
        time.sleep(0.5)
        for child in children:  # parse workers must notice their parent died and exit by themselves
            for _ in range(30):
                if not _alive(child):
                    break
                time.sleep(0.1)
            else:
                orphans += 1
                os.kill(child, signal.SIGKILL)
    return Outcome(proc.returncode, killed, "".join(out), lines, duration, orphans)


# -- checking ------------------------------------------------------------------------------------------------------


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _catalog_version(world: World, library: Library, name: str) -> str | None:
    state = library.catalog.source_state(str(world.path(name)))
    return None if state is None else state.sha256


def check_world(
    world: World,
    targets: dict[str, tuple[Version | None, Version | None]],
    reported: set[str],
    run_label: str,
) -> tuple[list[str], int]:
    """Open the index as a restarted process would and check it; update the expected state.

    Args:
        targets: per source touched by the run, (version before, version the run tried to leave).
        reported: sources whose new state the killed process had reported.

    Returns:
        (inconsistencies, canary searches made).
    """
    problems: list[str] = []
    capture = _Capture()
    store_logger = logging.getLogger("rag.index.store")
    store_logger.addHandler(capture)
    try:
        library = Library(world.index, create=False)
        try:
            store = library.store
        finally:
            store_logger.removeHandler(capture)
    except Exception as exc:
        store_logger.removeHandler(capture)
        return [f"{run_label}: index does not open: {type(exc).__name__}: {exc}"], 0
    searches = 0
    try:
        problems += [f"{run_label}: catalog: {p}" for p in library.check()]
        problems += [f"{run_label}: {m}" for m in capture.messages if SNAPSHOT_WARNING_RE.search(m)]
        catalog_pids = set(library.catalog.all_pids())
        lexical_ok = len(store.lexical) == len(catalog_pids) and all(p in store.lexical for p in catalog_pids)
        if not lexical_ok:
            problems.append(f"{run_label}: lexical index holds {len(store.lexical)} pids, catalog {len(catalog_pids)}")
        if world.embedder != "none":
            if store.vectors is None:
                problems.append(f"{run_label}: vector index missing")
            elif set(store.vectors.ids().tolist()) != catalog_pids:
                problems.append(
                    f"{run_label}: vector index holds {len(store.vectors)} pids, catalog {len(catalog_pids)}"
                )
        if set(store.table.pids.tolist()) != catalog_pids:
            problems.append(f"{run_label}: document table disagrees with the catalog")
        if store.lexical.generation > library.catalog.last_change():
            problems.append(f"{run_label}: lexical snapshot ahead of the catalog")

        # Each source: its old or its new version, and the reported one when the process reported it.
        known_keys = {str(world.path(n)) for n in world.expected} | {str(world.path(n)) for n in targets}
        for doc in library.documents():
            if doc.source_key not in known_keys:
                problems.append(f"{run_label}: unknown document {doc.doc_id} from {doc.source_key}")
        for name in sorted(set(world.expected) | set(targets)):
            actual = _catalog_version(world, library, name)
            if name in targets:
                before, after = targets[name]
                allowed = {None if v is None else v.sha256 for v in (before, after)}
                if name in reported:
                    allowed = {None if after is None else after.sha256}
                if actual not in allowed:
                    what = "reported done but" if name in reported else "neither old nor new:"
                    problems.append(f"{run_label}: {name} {what} catalog has {actual}")
                    continue
                world.expected[name] = after if after is not None and actual == after.sha256 else before
                if actual is None:
                    world.expected[name] = None
            else:
                want = world.expected.get(name)
                if actual != (None if want is None else want.sha256):
                    problems.append(f"{run_label}: untouched {name} changed")

        # Every version ever written: the present one finds exactly its paragraphs, the others find nothing.
        for version in world.versions:
            current = world.expected.get(version.name)
            hits = library.search(version.canary, SEARCH_K, mode="lexical")
            searches += 1
            found = {h.paragraph_id for h in hits}
            if current is not None and current.sha256 == version.sha256:
                state = library.catalog.source_state(str(world.path(version.name)))
                assert state is not None
                wanted = {p.paragraph_id for p in library.paragraphs(state.doc_id)}
                if found != wanted:
                    problems.append(
                        f"{run_label}: canary of present {version.name} finds {len(found)} of {len(wanted)} paragraphs"
                    )
            elif found:
                problems.append(f"{run_label}: canary of absent version of {version.name} finds {sorted(found)[:3]}")
    finally:
        library.close()
    return problems, searches


# -- the campaign ------------------------------------------------------------------------------------------------


def _reported(world: World, outcome: Outcome, op: str, targets: dict[str, Any]) -> set[str]:
    """Sources whose new state the process reported before it died (or at its end)."""
    done: set[str] = set()
    by_path = {str(world.path(n)): n for n in targets}
    for line in outcome.stderr:
        m = COMMITTED_RE.match(line)
        if m and m.group(1) in by_path:
            done.add(by_path[m.group(1)])
    if outcome.killed or outcome.returncode not in (0, 3):
        return done
    try:
        report = json.loads(outcome.stdout)
    except json.JSONDecodeError:
        return done
    if op == "remove":
        return set(targets) if "removed" in report else done
    for entry in report.get("files", []):
        if entry.get("path") in by_path and entry.get("status") in {"ok", "replaced", "unchanged"}:
            done.add(by_path[entry["path"]])
    return done


def _setup(world: World, n_files: int) -> list[str]:
    world.src.mkdir(parents=True, exist_ok=True)
    for _ in range(n_files):
        world.new_file()
    args = ["ingest", str(world.src), "--index", str(world.index), "--json", "--no-progress"]
    if world.embedder != "none":
        args += ["--embedder", world.embedder]
    outcome = run_cli(args, pause_at=None, kill_after=None)
    if outcome.returncode != 0:
        return [f"setup of {world.embedder} failed: {outcome.stderr[-3:]}"]
    for name, version in world.on_disk.items():
        world.expected[name] = version
    world.durations.append(outcome.duration)
    return []


def run_campaign(
    runs: int, seed: int, work: Path, *, hash_share: float = 0.4, pause_share: float = 0.6, log: bool = False
) -> dict[str, Any]:
    """Run `runs` kill runs and return the figures (see the module docstring).

    Args:
        runs: kill runs (each one CLI process, killed or, when it finishes first, checked all the same).
        seed: seeds every random choice (operations, documents, delays, kill points).
        work: folder for the source files and the two indexes.
        hash_share: share of runs on the index with the `hash:64` embedder.
        pause_share: share of ingest runs killed at a named point rather than after a random delay.
        log: one line per run on stderr.
    """
    rng = random.Random(seed)
    canaries: set[str] = set()
    worlds = {
        e: World(e, work / e.replace(":", "-"), random.Random(rng.random()), canaries, 100 + i * 1000)
        for i, e in enumerate(EMBEDDERS)
    }
    started = time.monotonic()
    inconsistencies: list[str] = []
    for world in worlds.values():
        inconsistencies += _setup(world, 4)
    counts: Counter[str] = Counter()
    points: Counter[str] = Counter()
    ops: Counter[str] = Counter()
    by_embedder: Counter[str] = Counter()
    kills = orphans = searches = reported_checked = 0
    for run in range(runs):
        world = worlds["hash:64"] if rng.random() < hash_share else worlds["none"]
        op = rng.choices(list(OPERATIONS), weights=list(OPERATIONS.values()))[0]
        present = world.present()
        if op == "remove" and not present:
            op = "add"
        if op == "replace" and not [n for n in present if n in world.on_disk]:
            op = "add"
        targets: dict[str, tuple[Version | None, Version | None]] = {}
        if op == "add":
            for _ in range(rng.randint(1, 3)):
                v = world.new_file()
                targets[v.name] = (None, v)
        elif op == "replace":
            candidates = [n for n in present if n in world.on_disk]
            for name in rng.sample(candidates, min(len(candidates), rng.randint(1, 3))):
                targets[name] = (world.expected[name], world.rewrite(name))
        elif op == "folder":
            world.new_file()
            candidates = [n for n in present if n in world.on_disk]
            if candidates:
                name = rng.choice(candidates)
                world.rewrite(name)
            for name, version in world.on_disk.items():
                targets[name] = (world.expected.get(name), version)
        if op == "remove":
            name = rng.choice(present)
            removed = world.expected[name]
            assert removed is not None
            state_doc = _doc_id_of(world, name)
            targets[name] = (removed, None)
            args = ["remove", state_doc, "--index", str(world.index), "--json"]
            world.on_disk.pop(name, None)
            world.path(name).unlink(missing_ok=True)  # a later folder ingest must not bring it back
        else:
            paths = [str(world.src)] if op == "folder" else [str(world.path(n)) for n in targets]
            args = ["ingest", *paths, "--index", str(world.index), "--json", "--no-progress", "-v"]
        if world.embedder != "none" and op != "remove":
            args += ["--embedder", world.embedder]
        pause_at: str | None = None
        kill_after: float | None = None
        if op != "remove" and rng.random() < pause_share:
            pause_at = world.pause_point()
        else:
            kill_after = rng.uniform(0.2, 1.1) * world.typical_duration()
        outcome = run_cli(args, pause_at=pause_at, kill_after=kill_after)
        if not outcome.killed and outcome.returncode in (0, 3):
            world.durations.append(outcome.duration)
        if any(line.startswith("HUNG") for line in outcome.stderr):
            inconsistencies.append(f"run {run}: {op} hung")
        if not outcome.killed and outcome.returncode not in (0, 3):
            inconsistencies.append(f"run {run}: {op} failed without being killed: {outcome.stderr[-3:]}")
        kills += outcome.killed
        orphans += outcome.orphans
        ops[op] += 1
        by_embedder[world.embedder] += 1
        mode = f"pause:{pause_at}" if pause_at else "random delay"
        points[mode if outcome.killed else f"{mode} (finished first)"] += 1
        reported = _reported(world, outcome, op, targets)
        reported_checked += len(reported)
        label = f"run {run} ({world.embedder}, {op}, {mode}, {'killed' if outcome.killed else 'finished'})"
        problems, n = check_world(world, targets, reported, label)
        searches += n
        inconsistencies += problems
        counts["runs"] += 1
        if log:
            print(f"{label}: {len(problems)} problems, {len(reported)} reported", file=sys.stderr)
    return {
        "runs": runs,
        "kills": kills,
        "finished_before_kill": runs - kills,
        "inconsistencies": len(inconsistencies),
        "details": inconsistencies[:50],
        "operations": dict(ops),
        "embedders": dict(by_embedder),
        "kill_points": dict(sorted(points.items())),
        "reported_done_checked": reported_checked,
        "canary_searches": searches,
        "documents_versions": sum(len(w.versions) for w in worlds.values()),
        "orphaned_workers": orphans,
        "seed": seed,
        "duration_s": round(time.monotonic() - started, 1),
    }


def _doc_id_of(world: World, name: str) -> str:
    with Library(world.index, create=False) as library:
        state = library.catalog.source_state(str(world.path(name)))
    assert state is not None, name
    return state.doc_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="kill runs (default 50)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--hash-share", type=float, default=0.4, help="share of runs on the hash:64 index")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed after)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per run on stderr")
    args = parser.parse_args(argv)
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        result = run_campaign(args.runs, args.seed, args.work, hash_share=args.hash_share, log=args.verbose)
    else:
        with tempfile.TemporaryDirectory(prefix="vk-kill-") as tmp:
            result = run_campaign(args.runs, args.seed, Path(tmp), hash_share=args.hash_share, log=args.verbose)
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 1 if result["inconsistencies"] else 0


if __name__ == "__main__":
    sys.exit(main())
