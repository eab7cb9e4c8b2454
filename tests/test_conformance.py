import pytest

from envs.api_test import api_test
from envs.core import make_batch

CASES = [("othello", 4), ("othello", 6), ("othello", 8), ("go", 5), ("go", 7), ("go", 9), ("go", 13)]


@pytest.mark.parametrize("game,size", CASES)
def test_api(game, size):
    api_test(lambda B, seed: make_batch(game, B, size, seed), batch_size=6)


def test_bad_construction():
    with pytest.raises(ValueError, match="Othello board size"):
        make_batch("othello", 1, 7)
    with pytest.raises(ValueError, match="Go board size"):
        make_batch("go", 1, 20)
    with pytest.raises(ValueError, match="unknown game"):
        make_batch("chess", 1)
    with pytest.raises(ValueError, match="batch_size"):
        make_batch("go", 0)
    with pytest.raises(ValueError, match="komi"):
        make_batch("go", 1, 9, komi=float("nan"))
