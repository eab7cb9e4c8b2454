import numpy as np
import pytest

from envs import notation, symmetry
from envs.core import make_batch


@pytest.mark.parametrize("n", [5, 6, 8, 9])
def test_symmetry_group(n):
    g, m = symmetry.gather_index(n), symmetry.action_map(n)
    vec = np.arange(n * n + 1)
    for k in range(8):
        assert symmetry.apply_actions(symmetry.apply_actions(vec, k, n), symmetry.inverse(k), n).tolist() == vec.tolist()
        assert g[k, n * n] == n * n and m[k, n * n] == n * n
        board = np.arange(n * n).reshape(n, n)
        assert (symmetry.apply_board(board, k).reshape(-1) == symmetry.apply_actions(vec, k, n)[: n * n]).all()
    assert len({tuple(row) for row in g}) == 8


@pytest.mark.parametrize("game,size", [("othello", 8), ("othello", 6), ("go", 7)])
def test_rules_commute_with_symmetries(game, size):
    """Playing the transformed moves gives the transformed masks and observations at every step."""
    rng = np.random.default_rng(0)
    amap = symmetry.action_map(size)
    for k in range(8):
        a, b = make_batch(game, 1, size), make_batch(game, 1, size)
        if game == "othello":  # the Othello start is symmetric under only 4 of the 8: start b transformed
            b._setup(symmetry.apply_board(a.cells(0), k), 0)
        while not a.terminal[0]:
            ma, mb = a.legal_mask(), b.legal_mask()
            assert (symmetry.apply_actions(ma, k, size) == mb).all()
            assert np.allclose(symmetry.apply_board(a.observation(), k), b.observation())
            legal = np.flatnonzero(ma[0])
            act = int(legal[rng.integers(legal.size)])
            a.step([act])
            b.step([amap[k, act]])
        assert b.terminal[0] and a.reward()[0] == b.reward()[0]


def test_notation_round_trips():
    for n in (6, 8):
        for a in range(n * n + 1):
            assert notation.othello_action(notation.othello_move(a, n), n) == a
    for n in (5, 9, 19):
        for a in range(n * n + 1):
            assert notation.gtp_action(notation.gtp_move(a, n), n) == a
    assert notation.gtp_move(0, 9) == "A9" and notation.gtp_move(80, 9) == "J1"
    assert notation.othello_move(37, 8) == "f5"
    for bad in ("i5", "a9", "zz", "", "a0"):
        with pytest.raises(ValueError):
            notation.othello_action(bad, 8)
    for bad in ("I5", "A10", "Z1", "pas"):
        with pytest.raises(ValueError):
            notation.gtp_action(bad, 9)
