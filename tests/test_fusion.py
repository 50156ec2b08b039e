import pytest

from rag.retrieve.fusion import convex, min_max, rrf


def test_rrf_hand_computed() -> None:
    fused = dict(rrf([["a", "b", "c"], ["b", "a"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["c"] == pytest.approx(1 / 63)
    assert rrf([["x", "y"], ["y", "z"]])[0][0] == "y"


def test_rrf_weights() -> None:
    fused = rrf([["a"], ["b"]], weights=[2.0, 1.0])
    assert fused[0][0] == "a" and fused[0][1] == pytest.approx(2 / 61)
    with pytest.raises(ValueError):
        rrf([["a"]], weights=[1.0, 2.0])


def test_min_max_and_convex() -> None:
    assert min_max([2.0, 4.0, 3.0]) == [0.0, 1.0, 0.5]
    assert min_max([5.0, 5.0]) == [1.0, 1.0]
    fused = dict(convex([[("a", 10.0), ("b", 0.0)], [("b", 1.0), ("c", 0.5)]], weights=[0.7, 0.3]))
    assert fused == pytest.approx({"a": 0.7, "b": 0.3, "c": 0.0})


def test_z_scores_hand_computed() -> None:
    from rag.retrieve.fusion import z_scores

    # mean 2, population standard deviation sqrt(2/3)
    z = z_scores({"a": 1.0, "b": 2.0, "c": 3.0})
    assert z == pytest.approx({"a": -1.224745, "b": 0.0, "c": 1.224745}, abs=1e-6)
    assert z_scores({"a": 4.0, "b": 4.0}) == {"a": 0.0, "b": 0.0}
    assert z_scores({}) == {}


def test_z_convex_keeps_margins_that_min_max_flattens() -> None:
    from rag.retrieve.fusion import z_convex

    # The lexical side barely separates a from b; the dense side puts b far ahead of the crowd. Min-max over the
    # lists' tops stretches the small lexical gap to the full range and lets a win; standardised scores do not.
    lexical = {"a": 10.0, "b": 9.9, "c": 2.0, "d": 1.0}
    dense = {"a": 0.70, "b": 0.86, "c": 0.69, "d": 0.68}
    fused = z_convex(lexical, dense, 0.5)
    assert [item for item, _ in fused][:2] == ["b", "a"]
    minmax = dict(convex([list(lexical.items())[:2], list(dense.items())[:2]], weights=[0.5, 0.5]))
    assert minmax["a"] == pytest.approx(0.5) and minmax["b"] == pytest.approx(0.5)  # a tie the margins would break


def test_z_convex_lets_lexical_evidence_stand_in_for_a_missing_vector() -> None:
    from rag.retrieve.fusion import z_convex, z_scores

    lexical = {"new": 8.0, "old": 8.0, "other": 1.0}
    dense = {"old": 0.8, "other": 0.2}  # "new" has no vector yet
    fused = dict(z_convex(lexical, dense, 0.4))
    z = z_scores(lexical)
    assert fused["new"] == pytest.approx(z["new"])  # 0.4 z + 0.6 z
    assert fused["old"] == pytest.approx(0.4 * z["old"] + 0.6 * z_scores(dense)["old"])
    with pytest.raises(ValueError):
        z_convex({"a": 1.0}, {"a": 0.5, "b": 0.4}, 0.5)  # a dense item the lexical side did not score
