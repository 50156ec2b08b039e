"""A serving store applies another process's commits in a paced background thread (`IndexStore.catch_up`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rag import Library
from rag.index import store as store_module

NOTICE = "THÔNG BÁO\nvề {topic}\nTài liệu mẫu, không phải văn bản chính thức.\n1. Xã {i} hoàn thành việc {topic}.\n"
TOPICS = ["nạo vét kênh mương", "sửa chữa trường học", "trồng rừng phòng hộ", "lắp đèn chiếu sáng"]


def _notice(folder: Path, i: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"thong-bao-{i:02d}.txt"
    path.write_text(NOTICE.format(topic=TOPICS[i % len(TOPICS)], i=i), encoding="utf-8")
    return path


def test_commits_streaming_in_are_applied_together_at_a_bounded_pace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingest child commits record by record while searches keep asking the store to catch up. Each search
    used to start a sync of its own (3.6 a second for a .jsonl, each with its catalog reads, tokenising and
    exclusive step); now one thread applies what came in each interval, and every commit still becomes
    searchable."""
    index = tmp_path / "ix"
    with Library(index, embedder="hash:64") as writer:
        writer.ingest([_notice(tmp_path / "first", 0)])
        serving = Library(index, embedder="hash:64", create=False, background_vectors=True)
        try:
            store = serving.store
            store.background_sync = True
            syncs: list[int] = []
            real_sync = store.sync

            def counted_sync(*args: object, **kwargs: object) -> int:
                applied = real_sync(*args, **kwargs)  # type: ignore[arg-type]
                syncs.append(applied)
                return applied

            monkeypatch.setattr(store, "sync", counted_sync)
            started = time.monotonic()
            for i in range(1, 13):
                writer.ingest([_notice(tmp_path / f"d{i}", i)], commit_only=True)
                store.catch_up()  # what every search does
                time.sleep(0.05)
            elapsed = time.monotonic() - started
            deadline = time.monotonic() + 20
            while store.applied != serving.catalog.last_change() and time.monotonic() < deadline:
                store.catch_up()
                time.sleep(0.05)
            assert store.applied == serving.catalog.last_change()
            assert sum(syncs) >= 12
            # One sync at once and then one per interval at most (not one per commit).
            applying = len([n for n in syncs if n])
            assert applying <= elapsed / store_module.CATCH_UP_INTERVAL + 2 and applying < 12
            found = {h.paragraph.doc_id for h in serving.search("trồng rừng phòng hộ", k=20, mode="lexical")}
            assert len(found) == 3  # notices 2, 6 and 10
            closing = time.monotonic()
        finally:
            serving.close()
        assert time.monotonic() - closing < 5  # the thread ends with the store, between two intervals
