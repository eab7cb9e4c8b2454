"""Othello rules: perft from the start against the published counts, passes and wipe-outs as pictures."""

import numpy as np
import pytest

from envs.core import OthelloBatch, make_batch
from envs.game import Game
from envs.reference import OthelloRef
from tests.conftest import IN_CI

# The published counts' convention: a forced pass uses one ply and a game that ends before the depth is one leaf.
PERFT_8 = [1, 4, 12, 56, 244, 1396, 8200, 55092, 390216, 3005288, 24571284]


@pytest.mark.parametrize("depth", range(0, 10))
def test_perft_8x8(depth):
    assert make_batch("othello", 1, 8).perft(depth) == PERFT_8[depth]


@pytest.mark.skipif(IN_CI, reason="depth 10 is left out of CI (it runs here and in --runslow)")
def test_perft_8x8_depth_10():
    assert make_batch("othello", 1, 8).perft(10) == 24571284


def _ref_perft(g, depth):
    if depth == 0 or g.over:
        return 1
    total = 0
    for a in g.legal_actions():
        h = OthelloRef(g.n)
        h.board = [row[:] for row in g.board]
        h.color = g.color
        h.over = g.over
        h.step(a)
        total += _ref_perft(h, depth - 1)
    return total


@pytest.mark.parametrize("size,depth", [(6, 6), (4, 9)])
def test_perft_small_boards_match_reference(size, depth):
    assert make_batch("othello", 1, size).perft(depth) == _ref_perft(OthelloRef(size), depth)


def test_forced_pass():
    # White has no move (every empty square needs a black line to flip); black still has moves.
    g = OthelloBatch.from_text("""
        X X X X
        X X X X
        X X O .
        . . . .""", to_play="white")
    mask = g.legal_mask()[0]
    assert np.flatnonzero(mask).tolist() == [16], "pass is the only legal action"
    assert not g.terminal[0]
    g.step([16])
    assert g.to_play[0] == 0 and g.legal_mask()[0, 11], "black may now play d3 (flips c3)"
    with pytest.raises(ValueError, match="not legal"):
        OthelloBatch.from_text("""
            X X X X
            X X X X
            X X O .
            . . . .""", to_play="black").step([16])  # black may not pass while it has moves


def test_wipe_out_ends_the_game():
    # Black b4 flips the last white disc (b3, bracketed by b2): white has no discs, nobody can move.
    g = OthelloBatch.from_text("""
        . . . .
        . X X .
        . O X .
        . . . .""", to_play="black")
    g.step([g.parse_move("b4")])
    assert g.terminal[0] and g.reward()[0] == 1.0 and g.score() == 5


def test_shortest_wipe_out_game():
    # A known 9-move game in which black wipes out white (the shortest possible Othello game).
    g = Game.from_transcript("e6f4e3f6g5d6e7f5c5")
    assert g.terminal and g.reward() == 1.0 and (g.cells() >= 0).all()
    print(g)


def test_full_board_draw_and_result():
    g = OthelloBatch.from_text("""
        X X O O
        X X O O
        X X O O
        X X O O""")
    assert g.terminal[0] and g.reward()[0] == 0.0


def test_transcripts_round_trip_with_passes():
    rng = np.random.default_rng(3)
    for _ in range(20):
        g = Game("othello", 6)
        while not g.terminal:
            legal = g.legal_actions()
            g.play(legal[int(rng.integers(len(legal)))])
        h = Game.from_transcript(g.transcript(), "othello", 6)
        assert h.history == g.history and h.score() == g.score()
