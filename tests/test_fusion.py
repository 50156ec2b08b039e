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
