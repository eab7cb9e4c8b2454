"""Go rule cases as pictures and scripted move sequences (X black, O white; GTP coordinates)."""

import numpy as np
import pytest

from envs.core import GoBatch
from envs.game import Game


def legal(g):
    return set(g.batch.move_str(a) for a in np.flatnonzero(g.batch.legal_mask()[0]))


def from_text(text, to_play="black", komi=0.5):
    g = Game("go", 5, komi=komi)
    g.batch = GoBatch.from_text(text, to_play, komi=komi)
    g.size = g.batch.size
    return g


def test_single_capture_and_liberty_return():
    g = from_text("""
        . . . . .
        . . X . .
        . X O X .
        . . . . .
        . . . . .""")
    g.play("C2")  # fills white's last liberty
    assert g.cells()[2, 2] == 0, "the white stone is captured"
    assert g.batch.area_score(0) == 25, "black owns the whole board after the capture"


def test_multi_stone_capture():
    g = from_text("""
        . X X X .
        X O O O X
        . X X . .
        . . . . .
        . . . . .""")
    g.play("D3")
    assert (g.cells()[1, 1:4] == 0).all(), "three white stones are captured together"


def test_suicide_is_illegal_but_capture_is_not():
    g = from_text("""
        . X . . .
        X . . . .
        . . . . .
        . . . . .
        . . . . .""", to_play="white")
    assert "A5" not in legal(g), "single-stone suicide"
    g = from_text("""
        . X O . .
        X O . . .
        . . . . .
        . . . . .
        . . . . .""", to_play="white")
    assert "A5" in legal(g), "no liberty of its own, but it captures B5"
    g.play("A5")
    assert g.cells()[0, 1] == 0
    g2 = from_text("""
        . O X . .
        O X X . .
        X X . . .
        . . . . .
        . . . . .""", to_play="white")
    assert "A5" not in legal(g2), "multi-stone suicide (joining A4/B5 to death)"
    with pytest.raises(ValueError, match="A5 is not legal"):
        g2.play("A5")


def test_simple_ko():
    g = from_text("""
        . . . . .
        . X O . .
        X O . O .
        . X O . .
        . . . . .""")
    g.play("C3")  # black captures B3
    assert g.cells()[2, 1] == 0
    assert "B3" not in legal(g), "white may not retake the ko at once"
    g.play("E1")  # white plays elsewhere (a ko threat)
    g.play("E5")
    assert "B3" in legal(g), "after an exchange elsewhere the ko may be retaken"


def test_positional_superko_beyond_simple_ko():
    """White's C1 would recreate the position after move 11, three plies back (it captures nothing,
    so a simple-ko rule would allow it); positional superko forbids it. Found by the pure-Python
    reference, which keeps every earlier position in a set.

           A B C D E                A B C D E
         5 . . . . O              5 . . . . O
         4 X . . O .              4 X . . O .
         3 . . . . O   after 11   3 . . . . O   now (black E1 has just taken C1 and D1)
         2 . X X X O              2 . X X X O
         1 . X O . X              1 . X . . X
    """
    g = Game("go", 5, komi=0.5).play_all("D2 E3 A4 E2 C2 D4 E1 C1 B2 E5 B1 D1 E1".split())
    assert g.to_play == 1
    assert "C1" not in legal(g)
    with pytest.raises(ValueError, match="C1 is not legal for white"):
        g.play("C1")
    assert "D1" in legal(g)


def test_two_passes_end_and_move_cap():
    g = Game("go", 5).play_all(["C3", "pass", "D4", "pass"])
    assert not g.terminal, "pass, move, pass is not two consecutive passes"
    g.play("pass")
    assert g.terminal
    with pytest.raises(ValueError, match="game is over"):
        g.play("A1")
    # the ply cap 2*N*N ends a game that never passes
    b = GoBatch(1, 3, seed=0)
    while not b.terminal[0]:
        mask = b.legal_mask()[0]
        moves = np.flatnonzero(mask[:-1])
        b.step([moves[0] if moves.size else 9])
    assert b.ply[0] == 18 and b.passes[0] < 2, "the cap, not passing, ended the game"


def test_area_scoring_with_komi_and_neutral_points():
    # Black owns the left two columns, white the right two; the middle column touches both: neutral.
    pic = """
        . X . O .
        . X . O .
        . X . O .
        . X . O .
        . X . O ."""
    g = from_text(pic, komi=0.5)
    assert g.batch.area_score(0) == 0
    g.play("pass").play("pass")
    assert g.reward() == -1.0, "equal area: white wins by komi 0.5"
    g = from_text(pic, komi=0.0)
    g.play("pass").play("pass")
    assert g.reward() == 0.0, "integer komi allows a draw"


def test_shared_liberties_count_for_nobody():
    """Tromp-Taylor area: an empty region touching both colours (as the shared liberties of a seki
    do) is neutral; one touching a single colour is that colour's."""
    g = from_text("""
        . X . O .
        X X . O O
        . . . . .
        O O O O O
        . . . . .""", komi=0.0)
    # black: 3 stones + A5; white: 8 stones + E5 + row 1; C5, C4 and row 3 touch both: neutral
    assert g.batch.area_score(0) == (3 + 1) - (8 + 1 + 5)


def test_sgf_round_trip_and_coordinates():
    g = Game("go", 9).play_all(["E5", "C3", "pass", "G7", "pass", "pass"])
    data = g.to_sgf()
    assert b"SZ[9]" in data and b"KM[7.5]" in data and b"B[ee]" in data and b"W[cg]" in data
    h = Game.from_sgf(data)
    assert h.history == g.history and h.terminal and h.score() == g.score()
    with pytest.raises(ValueError, match="malformed SGF"):
        Game.from_sgf(b"(;FF[4]GM[1]SZ[9];B[ee")
