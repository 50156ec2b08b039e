"""Statistics per visibility: what a caller at level L gets from the lexical index depends only on the paragraphs of
levels 0..L. Adding, changing or removing paragraphs above L (enough to trigger merges and rebuilds) changes no
score, no order and no idf at level L; at their own level they count."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.index.lexical import SEGMENTS_PER_TIER, LexicalIndex
from tests.index.test_lexical import PARAS

QUERIES = [
    "phát triển khoa học công nghệ",
    "phong chong tham nhung",
    "y tế cơ sở vùng sâu",
    "nghị quyết tỉnh ủy",
    "giáo dục đào tạo ngân sách",
]
# Restricted paragraphs written for the test: they repeat the public words, so any leak of their statistics into
# a public search would move its scores.
SECRET = [
    "Kế hoạch mật về phát triển khoa học, công nghệ và chống tham nhũng ở tỉnh ủy {i}.",
    "Ngân sách mật cho giáo dục, đào tạo, y tế cơ sở vùng sâu số {i}, phát triển phát triển phát triển.",
]


def public_view(idx: LexicalIndex, level: int) -> list[object]:
    return [idx.search(q, 8, level=level) for q in QUERIES] + [idx.idf(["phát", "tham", "mật", "xa"], level=level)]


def secret_batch(start: int, n: int) -> tuple[list[int], list[str]]:
    pids = list(range(start, start + n))
    return pids, [SECRET[i % 2].format(i=i) for i in pids]


def test_paragraphs_above_a_level_change_nothing_at_it(tmp_path: Path) -> None:
    idx = LexicalIndex()
    idx.add(list(PARAS), list(PARAS.values()), levels=[0] * len(PARAS))
    idx.add([20, 21], ["Công tác nội bộ của chi bộ về phát triển đảng viên.", "Chi bộ họp về y tế."], levels=[1, 1])
    before = {level: public_view(idx, level) for level in (0, 1)}

    # many small additions at levels 2 and 3: merges and rebuilds happen there, not below
    for batch in range(2 * SEGMENTS_PER_TIER + 3):
        pids, texts = secret_batch(1000 + 10 * batch, 3)
        idx.add(pids, texts, levels=[2 + batch % 2] * len(pids))
    assert {level: public_view(idx, level) for level in (0, 1)} == before
    # changing them (the same pids, new text) and removing most of them
    pids, texts = secret_batch(1000, 3)
    idx.add(pids, [t.upper() for t in texts], levels=[3] * 3)
    idx.remove(range(1000, 1060))
    assert {level: public_view(idx, level) for level in (0, 1)} == before

    # persisted and reopened: the levels survive
    idx.save(tmp_path / "lex", generation=1)
    again = LexicalIndex.load(tmp_path / "lex")
    assert {level: public_view(again, level) for level in (0, 1)} == before
    assert again.levels() == idx.levels()


def test_a_level_sees_its_own_and_lower_paragraphs(tmp_path: Path) -> None:
    idx = LexicalIndex()
    idx.add(list(PARAS), list(PARAS.values()))
    pids, texts = secret_batch(1000, 4)
    idx.add(pids, texts, levels=[2] * 4)
    public = [pid for pid, _ in idx.search("khoa học công nghệ tham nhũng tỉnh ủy", 20, level=0)]
    cleared = [pid for pid, _ in idx.search("khoa học công nghệ tham nhũng tỉnh ủy", 20, level=2)]
    everything = [pid for pid, _ in idx.search("khoa học công nghệ tham nhũng tỉnh ủy", 20)]
    assert all(pid < 1000 for pid in public) and public
    assert any(pid >= 1000 for pid in cleared) and cleared == everything
    # the counts a cleared caller's idf uses include level 2: "mật" is frequent there, absent below
    assert idx.idf(["mật"], level=2)[0] < idx.idf(["mật"], level=0)[0]
    assert idx.levels() == {0: len(PARAS), 2: 4}


def test_one_shared_statistic_would_leak(tmp_path: Path) -> None:
    """The control: the same paragraphs all at one level do move the public scores (the test above can fail)."""
    idx = LexicalIndex()
    idx.add(list(PARAS), list(PARAS.values()))
    before = public_view(idx, 0)
    pids, texts = secret_batch(1000, 6)
    idx.add(pids, texts)  # level 0: shared statistics
    after = public_view(idx, 0)
    assert after[-1] != before[-1]  # idf moved
    assert [s for s in after[0]] != [s for s in before[0]]  # type: ignore[union-attr]


def test_levels_are_checked() -> None:
    idx = LexicalIndex()
    with pytest.raises(ValueError):
        idx.add([1], ["Nghị quyết"], levels=[-1])
    with pytest.raises(ValueError):
        idx.add([1, 2], ["Nghị quyết", "Chỉ thị"], levels=[0])
