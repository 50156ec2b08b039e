"""VectorIndex: exact search, filtering inside FAISS, in-place updates, crash-safe files, embedder checks."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from rag.errors import StoreError
from rag.index import vectors as vectors_module
from rag.index.embedders import HashEmbedder
from rag.index.vectors import FORMAT, FORMAT_VERSION, MANIFEST, VectorIndex

DIM = 16
NAME = "hash-v1:16"


def unit_rows(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force(vectors: np.ndarray, pids: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    scores = vectors @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return [int(pids[i]) for i in order]


@pytest.fixture
def filled() -> tuple[VectorIndex, np.ndarray, np.ndarray]:
    pids = np.arange(1000, 1200, dtype=np.int64)
    vecs = unit_rows(len(pids))
    index = VectorIndex(DIM, NAME)
    index.add(pids, vecs)
    return index, pids, vecs


def test_search_is_exact_and_sorted(filled: tuple[VectorIndex, np.ndarray, np.ndarray]) -> None:
    index, pids, vecs = filled
    assert len(index) == 200 and 1000 in index and 999 not in index
    for query in unit_rows(5, seed=1):
        hits = index.search(query, 10)
        assert [p for p, _ in hits] == brute_force(vecs, pids, query, 10)
        scores = [s for _, s in hits]
        assert scores == sorted(scores, reverse=True)
        assert all(-1.0 - 1e-5 <= s <= 1.0 + 1e-5 for s in scores)
    # a stored vector finds itself first with score 1
    top_pid, top_score = index.search(vecs[7], 1)[0]
    assert top_pid == int(pids[7]) and top_score == pytest.approx(1.0, abs=1e-5)


def test_allowed_is_applied_inside_the_search(filled: tuple[VectorIndex, np.ndarray, np.ndarray]) -> None:
    index, pids, vecs = filled
    query = vecs[0]  # pid 1000 is the best match overall
    allowed = np.array([1003, 1050, 1101, 1199, 5000], dtype=np.int64)  # 5000 is not indexed
    hits = index.search(query, 10, allowed=allowed)
    assert {p for p, _ in hits} == {1003, 1050, 1101, 1199}
    mask = np.isin(pids, allowed)
    assert [p for p, _ in hits] == brute_force(vecs[mask], pids[mask], query, 10)
    # k results even when the allowed documents are far down the unfiltered ranking
    far = np.array(brute_force(vecs, pids, query, 200)[-3:], dtype=np.int64)
    assert sorted(p for p, _ in index.search(query, 3, allowed=np.sort(far))) == sorted(far.tolist())
    assert index.search(query, 5, allowed=np.array([], dtype=np.int64)) == []
    assert index.search(query, 5, allowed=np.array([42], dtype=np.int64)) == []


def test_remove_and_re_add(filled: tuple[VectorIndex, np.ndarray, np.ndarray]) -> None:
    index, _, vecs = filled
    assert index.remove([1000, 1001, 777]) == 2  # unknown pids are ignored
    assert len(index) == 198 and 1000 not in index
    assert all(p not in (1000, 1001) for p, _ in index.search(vecs[0], 200))
    assert index.remove([1000]) == 0
    index.add([1000], vecs[:1])
    assert index.search(vecs[0], 1)[0][0] == 1000
    assert len(index) == 199


def test_add_existing_pid_replaces_its_vector(filled: tuple[VectorIndex, np.ndarray, np.ndarray]) -> None:
    index, _, vecs = filled
    new = unit_rows(1, seed=99)
    index.add([1005], new)
    assert len(index) == 200
    hits = index.search(new[0], 3)
    assert hits[0][0] == 1005 and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [p for p, _ in index.search(vecs[5], 200)].count(1005) == 1
    np.testing.assert_allclose(index.vectors([1005])[0], new[0], atol=1e-6)


def test_bad_input_is_rejected() -> None:
    index = VectorIndex(DIM, NAME)
    with pytest.raises(ValueError):
        index.add([1, 1], unit_rows(2))
    with pytest.raises(ValueError):
        index.add([1, 2], unit_rows(3))
    with pytest.raises(ValueError):
        index.add([1], unit_rows(1, dim=DIM + 1))
    with pytest.raises(ValueError):
        index.add([-1], unit_rows(1))
    bad = unit_rows(1)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        index.add([1], bad)
    index.add([1], unit_rows(1))
    with pytest.raises(ValueError):
        index.search(unit_rows(1)[0], 0)
    with pytest.raises(ValueError):
        index.search(np.zeros(DIM + 1, dtype=np.float32), 3)
    with pytest.raises(KeyError):
        index.vectors([2])
    with pytest.raises(ValueError):
        VectorIndex(0, NAME)
    with pytest.raises(ValueError):
        VectorIndex(DIM, "")


def test_empty_index_and_large_k() -> None:
    index = VectorIndex(DIM, NAME)
    assert index.search(unit_rows(1)[0], 5) == []
    index.add([3, 4], unit_rows(2))
    assert len(index.search(unit_rows(1)[0], 50)) == 2
    index.add([], np.zeros((0, DIM), dtype=np.float32))
    assert index.ids().tolist() == [3, 4]


def test_search_batch_matches_single_searches(filled: tuple[VectorIndex, np.ndarray, np.ndarray]) -> None:
    index, _, _ = filled
    queries = unit_rows(30, seed=5)  # >= 20 queries takes FAISS's BLAS path
    allowed = np.arange(1000, 1200, 3, dtype=np.int64)
    batch = index.search_batch(queries, 7, allowed)
    for q, hits in zip(queries, batch, strict=True):
        single = index.search(q, 7, allowed)
        assert [p for p, _ in hits] == [p for p, _ in single]
        np.testing.assert_allclose([s for _, s in hits], [s for _, s in single], atol=1e-5)


# ------------------------------------------------------------------------------------- persistence


def test_save_load_round_trip_and_manifest(tmp_path: Path, filled: tuple[VectorIndex, np.ndarray, np.ndarray]) -> None:
    index, _, vecs = filled
    index.remove([1010])
    index.save(tmp_path, generation=7)
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["format"] == FORMAT and manifest["version"] == FORMAT_VERSION
    assert (manifest["embedder"], manifest["dim"], manifest["count"], manifest["generation"]) == (NAME, DIM, 199, 7)
    [level] = manifest["levels"]
    assert (level["level"], level["count"]) == (0, 199)
    assert (tmp_path / level["file"]).read_bytes()[:4] == b"IxM2"  # FAISS's own format, not a pickle
    loaded = VectorIndex.load(tmp_path, NAME, DIM)
    assert loaded.generation == 7 and len(loaded) == 199 and 1010 not in loaded
    assert loaded.ids().tolist() == index.ids().tolist()
    for q in unit_rows(3, seed=3):
        assert loaded.search(q, 10) == index.search(q, 10)  # same bytes, same arithmetic
    # the loaded index keeps working: delete, re-add, save again
    loaded.remove([1000])
    loaded.add([1010], vecs[10:11])
    loaded.save(tmp_path, generation=8)
    again = VectorIndex.load(tmp_path, NAME)
    assert again.generation == 8 and 1000 not in again and 1010 in again
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".faiss") == [
        json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))["levels"][0]["file"]
    ]


def test_load_refuses_another_embedder(tmp_path: Path, filled: tuple[VectorIndex, np.ndarray, np.ndarray]) -> None:
    index, _, _ = filled
    index.save(tmp_path, 1)
    with pytest.raises(StoreError) as info:
        VectorIndex.load(tmp_path, "st:/models/multilingual-e5-small")
    assert "Chỉ mục được tạo bằng bộ nhúng hash-v1:16, nhưng đang dùng st:/models/multilingual-e5-small" in (
        info.value.user_message
    )
    assert "xây lại chỉ mục" in info.value.user_message
    with pytest.raises(StoreError) as dim_info:
        VectorIndex.load(tmp_path, NAME, expected_dim=DIM * 2)
    assert "chiều" in dim_info.value.user_message


def _corrupt(directory: Path, how: str) -> None:
    manifest_path = directory / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    entry = manifest["levels"][0]
    data_path = directory / entry["file"]

    def with_entry(**changes: object) -> str:
        return json.dumps({**manifest, "levels": [{**entry, **changes}]})

    if how == "missing-manifest":
        manifest_path.unlink()
    elif how == "garbage-manifest":
        manifest_path.write_bytes(b"\x00{not json")
    elif how == "other-format":
        manifest_path.write_text(json.dumps({**manifest, "format": "something-else"}), encoding="utf-8")
    elif how == "other-version":
        manifest_path.write_text(json.dumps({**manifest, "version": 99}), encoding="utf-8")
    elif how == "missing-field":
        del entry["sha256"]
        manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    elif how == "missing-file":
        data_path.unlink()
    elif how == "truncated":
        data_path.write_bytes(data_path.read_bytes()[:100])
    elif how == "flipped-byte":
        raw = bytearray(data_path.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        data_path.write_bytes(bytes(raw))
    elif how == "escaping-file-name":
        manifest_path.write_text(with_entry(file="../elsewhere.faiss"), encoding="utf-8")
    elif how == "wrong-count":
        manifest_path.write_text(json.dumps({**manifest, "count": manifest["count"] + 1}), encoding="utf-8")
    elif how == "wrong-level-count":
        manifest_path.write_text(
            json.dumps(
                {**manifest, "count": manifest["count"] + 1, "levels": [{**entry, "count": entry["count"] + 1}]}
            ),
            encoding="utf-8",
        )
    elif how == "garbage-file":
        data_path.write_bytes(b"garbage!" * (entry["bytes"] // 8) + b"g" * (entry["bytes"] % 8))
        raw = data_path.read_bytes()
        manifest_path.write_text(with_entry(sha256=hashlib.sha256(raw).hexdigest(), bytes=len(raw)), encoding="utf-8")
    else:  # pragma: no cover
        raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "missing-manifest",
        "garbage-manifest",
        "other-format",
        "other-version",
        "missing-field",
        "missing-file",
        "truncated",
        "flipped-byte",
        "escaping-file-name",
        "wrong-count",
        "wrong-level-count",
        "garbage-file",
    ],
)
def test_corruption_is_a_store_error(
    tmp_path: Path, filled: tuple[VectorIndex, np.ndarray, np.ndarray], how: str
) -> None:
    index, _, _ = filled
    index.save(tmp_path, 3)
    _corrupt(tmp_path, how)
    with pytest.raises(StoreError) as info:
        VectorIndex.load(tmp_path, NAME)
    assert info.value.user_message and "chỉ mục" in info.value.user_message.lower()


def test_crash_before_the_manifest_keeps_the_previous_generation(
    tmp_path: Path, filled: tuple[VectorIndex, np.ndarray, np.ndarray]
) -> None:
    index, _, vecs = filled
    index.save(tmp_path, 1)
    # what a save interrupted before the manifest replace leaves behind: a new file and temp files
    (tmp_path / "vectors-g000002-0badc0de-l0.faiss").write_bytes(b"half written")
    (tmp_path / "vectors-g000002-0badc0de-l1.faiss.tmp-123").write_bytes(b"half")
    (tmp_path / f"{MANIFEST}.tmp-123").write_bytes(b"{")
    loaded = VectorIndex.load(tmp_path, NAME)
    assert loaded.generation == 1 and len(loaded) == 200
    loaded.add([5], vecs[:1])
    loaded.save(tmp_path, 2)
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    named = [e["file"] for e in manifest["levels"] + manifest["deltas"]]
    assert leftovers == sorted([*named, MANIFEST])  # stale files were cleaned up
    assert VectorIndex.load(tmp_path, NAME).generation == 2


def test_save_leaves_foreign_files_alone(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")  # e.g. the lexical index's manifest
    (tmp_path / "catalog.sqlite").write_bytes(b"")
    index = VectorIndex(DIM, NAME)
    index.save(tmp_path, 0)
    index.save(tmp_path, 1)
    assert (tmp_path / "manifest.json").exists() and (tmp_path / "catalog.sqlite").exists()
    assert len(VectorIndex.load(tmp_path, NAME)) == 0


def test_hash_embedder_end_to_end(tmp_path: Path, vi_paragraphs: list[str]) -> None:
    embedder = HashEmbedder(256)
    index = VectorIndex(embedder.dim, embedder.name)
    pids = np.arange(10, 10 + len(vi_paragraphs), dtype=np.int64)
    index.add(pids, embedder.embed_documents(vi_paragraphs))
    index.save(tmp_path, 1)
    loaded = VectorIndex.load(tmp_path, embedder.name, embedder.dim)
    hits = loaded.search(embedder.embed_query("cai cach thu tuc hanh chinh"), 3)
    assert hits[0][0] == 15
    # filtered to other paragraphs only: the best match is excluded before ranking
    others = np.array([p for p in pids.tolist() if p != 15], dtype=np.int64)
    assert all(p != 15 for p, _ in loaded.search(embedder.embed_query("cai cach thu tuc hanh chinh"), 3, others))
    assert os.path.exists(tmp_path / MANIFEST)


def test_levels_are_searched_up_to_the_callers_level_only(tmp_path: Path) -> None:
    """Each level has its own index: a search at level L never scans (or returns) a vector above L, its results
    equal those of an index holding levels 0..L alone, and the split survives a save and a load."""
    pids = np.arange(500, dtype=np.int64)
    vecs = unit_rows(500, seed=4)
    levels = np.arange(500) % 4
    full, low = VectorIndex(DIM, NAME), VectorIndex(DIM, NAME)
    full.add(pids, vecs, levels=levels.tolist())
    low.add(pids[levels <= 1], vecs[levels <= 1], levels=levels[levels <= 1].tolist())
    assert full.levels() == {0: 125, 1: 125, 2: 125, 3: 125}
    for q in unit_rows(5, seed=9):
        got = full.search(q, 20, level=1)
        assert got == low.search(q, 20, level=1)
        assert all(levels[p] <= 1 for p, _ in got)
        assert [p for p, _ in full.search(q, 10)] == brute_force(vecs, pids, q, 10)
        allowed = np.arange(0, 500, 3, dtype=np.int64)
        assert all(p % 3 == 0 and levels[p] <= 1 for p, _ in full.search(q, 10, allowed, level=1))
    full.add([1], vecs[1:2], levels=[3])  # moved from level 1 to 3
    assert 1 not in [p for p, _ in full.search(vecs[1], 5, level=2)]
    full.save(tmp_path, 4)
    again = VectorIndex.load(tmp_path, NAME)
    assert again.levels() == full.levels() and not again.unlevelled
    q = unit_rows(1, seed=11)[0]
    assert again.search(q, 20, level=0) == full.search(q, 20, level=0)


def test_a_format_1_snapshot_is_read_and_moved_to_its_levels(tmp_path: Path) -> None:
    """A snapshot written before levels existed (one file) loads at level 0, flagged; `assign_levels` moves each
    vector where it belongs."""
    import faiss

    pids = np.arange(10, 30, dtype=np.int64)
    vecs = unit_rows(20, seed=2)
    old = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    old.add_with_ids(vecs, pids)
    name = "vectors-g000003-0badc0de.faiss"
    faiss.write_index(old, str(tmp_path / name))
    raw = (tmp_path / name).read_bytes()
    manifest = {"format": FORMAT, "version": 1, "embedder": NAME, "dim": DIM, "count": 20, "generation": 3,
                "file": name, "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}  # fmt: skip
    (tmp_path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    loaded = VectorIndex.load(tmp_path, NAME, DIM)
    assert loaded.unlevelled and loaded.levels() == {0: 20}
    moved = loaded.assign_levels(lambda p: (p >= 20).astype(np.int64) * 2)
    assert moved == 10 and loaded.levels() == {0: 10, 2: 10} and not loaded.unlevelled
    assert np.allclose(loaded.vectors([25]), vecs[15:16])
    assert all(p < 20 for p, _ in loaded.search(vecs[15], 5, level=1))


# ------------------------------------------------------------------------------ deltas (small saves)


def _files(directory: Path) -> dict[str, object]:
    manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    return {"bases": [e["file"] for e in manifest["levels"]], "deltas": [e["file"] for e in manifest["deltas"]]}


def test_a_small_change_is_saved_as_a_delta_and_replayed(tmp_path: Path) -> None:
    pids = np.arange(1000, 1400, dtype=np.int64)
    vecs = unit_rows(400, seed=11)
    index = VectorIndex(DIM, NAME)
    index.add(pids, vecs, levels=[0] * 300 + [1] * 100)
    index.save(tmp_path, 1)
    first = _files(tmp_path)
    base_bytes = {name: (tmp_path / name).read_bytes() for name in first["bases"]}  # type: ignore[union-attr]
    assert first["deltas"] == []
    # a replaced vector that changes level, a removal, a new vector, and a pid removed then added back
    fresh = unit_rows(3, seed=12)
    index.add([1005], fresh[:1], levels=[1])
    index.remove([1010, 1399])
    index.add([5000], fresh[1:2], levels=[0])
    index.add([1399], fresh[2:3], levels=[1])
    index.save(tmp_path, 2)
    second = _files(tmp_path)
    assert second["bases"] == first["bases"] and len(second["deltas"]) == 1  # type: ignore[arg-type]
    for name, raw in base_bytes.items():  # the base files were not rewritten
        assert (tmp_path / name).read_bytes() == raw
    loaded = VectorIndex.load(tmp_path, NAME, DIM)
    assert loaded.generation == 2 and loaded.ids().tolist() == index.ids().tolist()
    assert loaded.levels() == index.levels() == {0: 299, 1: 101}
    np.testing.assert_array_equal(loaded.vectors([1005, 5000, 1399]), fresh)
    for q in unit_rows(4, seed=13):
        assert loaded.search(q, 10) == index.search(q, 10)
    # the loaded copy goes on with deltas of its own
    loaded.remove([1000])
    loaded.save(tmp_path, 3)
    assert len(_files(tmp_path)["deltas"]) == 2  # type: ignore[arg-type]
    assert 1000 not in VectorIndex.load(tmp_path, NAME) and len(VectorIndex.load(tmp_path, NAME)) == 399


def test_large_changes_rewrite_the_bases_and_drop_the_deltas(tmp_path: Path) -> None:
    index = VectorIndex(DIM, NAME)
    index.add(np.arange(100, dtype=np.int64), unit_rows(100, seed=2))
    index.save(tmp_path, 1)
    index.add(np.arange(100, 110, dtype=np.int64), unit_rows(10, seed=3))
    index.save(tmp_path, 2)
    assert len(_files(tmp_path)["deltas"]) == 1  # type: ignore[arg-type]
    index.add(np.arange(110, 140, dtype=np.int64), unit_rows(30, seed=4))  # 40 of 140 changed: over a quarter
    index.save(tmp_path, 3)
    files = _files(tmp_path)
    assert files["deltas"] == [] and len(files["bases"]) == 1  # type: ignore[arg-type]
    on_disk = sorted(p.name for p in tmp_path.iterdir())
    assert on_disk == sorted([*files["bases"], MANIFEST])  # type: ignore[misc]
    assert len(VectorIndex.load(tmp_path, NAME)) == 140


def test_a_save_by_another_process_in_between_means_a_full_rewrite(tmp_path: Path) -> None:
    index = VectorIndex(DIM, NAME)
    index.add(np.arange(200, dtype=np.int64), unit_rows(200, seed=5))
    index.save(tmp_path, 1)
    other = VectorIndex.load(tmp_path, NAME)
    other.add([900], unit_rows(1, seed=6))
    other.save(tmp_path, 2)  # a delta on the snapshot both know
    index.add([901], unit_rows(1, seed=7))
    index.save(tmp_path, 3)  # its delta would not extend what is on disk now: bases rewritten
    files = _files(tmp_path)
    assert files["deltas"] == []
    loaded = VectorIndex.load(tmp_path, NAME)
    assert 901 in loaded and 900 not in loaded and len(loaded) == 201


def test_a_corrupt_delta_is_a_store_error(tmp_path: Path) -> None:
    index = VectorIndex(DIM, NAME)
    index.add(np.arange(200, dtype=np.int64), unit_rows(200, seed=8))
    index.save(tmp_path, 1)
    index.add([900], unit_rows(1, seed=9))
    index.save(tmp_path, 2)
    [delta] = _files(tmp_path)["deltas"]  # type: ignore[misc]
    path = tmp_path / delta
    path.write_bytes(path.read_bytes()[:-20] + b"\x00" * 20)
    with pytest.raises(StoreError) as info:
        VectorIndex.load(tmp_path, NAME)
    assert "chỉ mục" in info.value.user_message.lower()
    # the same bytes with a matching checksum: refused when read, never unpickled
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    manifest["deltas"][0]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(StoreError):
        VectorIndex.load(tmp_path, NAME)


# --------------------------------------------------------------------- inverted files for large levels


@pytest.fixture
def small_ann(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inverted files from 600 vectors on (the product: `ANN_FROM`), so that tests stay small."""
    monkeypatch.setattr(vectors_module, "ANN_FROM", 600)


def clustered_rows(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, DIM)).astype(np.float32)
    x = centres[rng.integers(0, 20, n)] + 0.4 * rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_a_large_level_becomes_an_inverted_file(small_ann: None, tmp_path: Path) -> None:
    pids = np.arange(10, 1010, dtype=np.int64)
    vecs = clustered_rows(1000, seed=1)
    index = VectorIndex(DIM, NAME)
    index.add(pids[:900], vecs[:900], levels=[0] * 900)
    index.add(pids[900:], vecs[900:], levels=[1] * 100)
    assert index.kinds() == {0: "flat", 1: "flat"}
    exact = [[p for p, _ in index.search(q, 10)] for q in vecs[:50]]
    assert index.maintain() == [(0, f"ivf{vectors_module.ivf_lists(900)}")]
    assert index.kinds() == {0: "ivf64", 1: "flat"} and index.maintain() == []
    assert index.ids().tolist() == pids.tolist() and index.levels() == {0: 900, 1: 100}
    # exact on request; approximate by default, and close
    assert [[p for p, _ in index.search(q, 10, exact=True)] for q in vecs[:50]] == exact
    found = [[p for p, _ in index.search(q, 10)] for q in vecs[:50]]
    recall = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact, strict=True)])
    assert recall >= 0.8
    # a stored vector still finds itself; level 1 is not read at level 0
    assert index.search(vecs[3], 1)[0][0] == 13 and index.search(vecs[950], 1, level=0)[0][0] != 960
    # a restrictive filter probes every list: the answer is exact
    allowed = np.sort(pids[::37])
    want = brute_force(vecs[::37], pids[::37], vecs[500], 5)
    assert [p for p, _ in index.search(vecs[500], 5, allowed)] == want
    # remove, replace, read back, and survive a save and a load
    index.remove([13, 14])
    index.add([15], vecs[:1], levels=[0])
    np.testing.assert_allclose(index.vectors([15]), vecs[:1], atol=1e-6)
    assert 13 not in index and index.levels() == {0: 898, 1: 100}
    index.save(tmp_path, 4)
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert {e["level"]: e["kind"] for e in manifest["levels"]} == {0: "ivf", 1: "flat"}
    loaded = VectorIndex.load(tmp_path, NAME, DIM)
    assert loaded.kinds() == index.kinds() and loaded.ids().tolist() == index.ids().tolist()
    for q in vecs[100:110]:
        assert loaded.search(q, 10) == index.search(q, 10)
    loaded.remove([16])
    loaded.save(tmp_path, 5)  # a delta over an ivf base
    again = VectorIndex.load(tmp_path, NAME)
    assert 16 not in again and len(again) == 997 and again.kinds()[0] == "ivf64"


def test_changes_made_while_a_level_is_rebuilt_are_kept(small_ann: None, monkeypatch: pytest.MonkeyPatch) -> None:
    pids = np.arange(1000, dtype=np.int64)
    vecs = clustered_rows(1000, seed=2)
    index = VectorIndex(DIM, NAME)
    index.add(pids[:800], vecs[:800])
    extra = clustered_rows(2, seed=3)
    real_current = VectorIndex._current
    calls = 0

    def meanwhile(self: VectorIndex, chosen: np.ndarray, level: int) -> np.ndarray:
        nonlocal calls
        calls += 1
        copied = real_current(self, chosen, level)
        if calls == 2:  # right after the first vectors were copied into the new index
            self.remove([5, 6])
            self.add([7], extra[:1])  # replaced
            self.add([5000], extra[1:2])  # new
        return copied

    monkeypatch.setattr(VectorIndex, "_current", meanwhile)
    assert [kind for _, kind in index.maintain()] == ["ivf64"]
    assert calls >= 3 and len(index) == 799 and 5 not in index and 6 not in index
    np.testing.assert_allclose(index.vectors([7, 5000]), extra, atol=1e-6)
    assert index.search(extra[1], 1, exact=True)[0][0] == 5000


def test_a_shrunken_level_goes_back_to_exact_search(small_ann: None) -> None:
    index = VectorIndex(DIM, NAME)
    vecs = clustered_rows(700, seed=4)
    index.add(np.arange(700, dtype=np.int64), vecs)
    index.maintain()
    assert index.kinds() == {0: f"ivf{vectors_module.ivf_lists(700)}"}
    index.remove(np.arange(500, dtype=np.int64))  # 200 left: under half the threshold
    assert index.maintain() == [(0, "flat")]
    q = vecs[600]
    assert [p for p, _ in index.search(q, 5)] == brute_force(vecs[500:], np.arange(500, 700), q, 5)
