"""envs.replay: records replayed with Othello's implied passes put back, checked against the slow
pure-Python rules (envs.reference), which share no code with the kernels or with the replay."""

import random

import numpy as np
import pytest

from envs import notation
from envs.core import OthelloBatch, make_batch
from envs.game import Game
from envs.reference import OthelloRef
from envs.replay import implied_passes, replay, with_passes, written_move_colours


def ref_games(size, games, seed):
    """Random Othello games played by the reference rules: per game ``(history with passes, positions)``,
    where ``positions[t]`` is ``(board, colour to move, legal actions)`` once the t written moves before it
    and the pass the side to move is then forced into (if any) are played."""
    rnd = random.Random(seed)
    out = []
    for _ in range(games):
        g, history, positions = OthelloRef(size), [], []

        def settle():
            if g.legal_actions() == [size * size]:  # the reference's own rule: no disc move, so pass
                g.step(size * size)
                history.append(size * size)
            positions.append(([r[:] for r in g.board], g.color, sorted(g.legal_actions())))

        settle()
        while not g.over:
            a = rnd.choice(g.legal_actions())
            g.step(a)
            history.append(a)
            settle()
        out.append((history, positions))
    return out


def as_batch(records):
    L = max(len(r) for r in records)
    moves = np.full((len(records), L), -1, np.int64)
    for b, r in enumerate(records):
        moves[b, : len(r)] = r
    return moves, np.array([len(r) for r in records])


@pytest.mark.parametrize("size, seed", [(4, 1), (6, 2)])
def test_replay_matches_the_reference_rules_with_passes(size, seed):
    games = ref_games(size, 150, seed)
    P = size * size
    written = [[a for a in h if a != P] for h, _ in games]
    assert sum(h.count(P) for h, _ in games) >= 10, "the sample must hold forced passes"
    moves, lengths = as_batch(written)

    acts, n, done = with_passes(make_batch("othello", len(games), size), moves, lengths)
    assert (done == lengths).all()
    for b, (history, _) in enumerate(games):
        assert acts[b, : n[b]].tolist() == history
        # The side to move at position t (after the implied pass) writes move t; the reference's -1 is white.
        want = [int(colour == -1) for _, colour, _ in games[b][1][: lengths[b]]]
        assert written_move_colours(history, "othello", size).tolist() == want

    g = make_batch("othello", len(games), size)
    seen = np.zeros(len(games), np.int64)
    for p in replay(g, moves, lengths):
        assert not p.refused.any()
        for b in np.flatnonzero(p.at):
            board, colour, legal = games[b][1][p.t]
            assert g.cells(b).tolist() == board and g.to_play[b] == (colour == -1)
            assert np.flatnonzero(p.legal[b]).tolist() == legal
            assert p.move[b] == (written[b][p.t] if p.t < lengths[b] else -1)
            seen[b] += 1
        assert not p.legal[~p.at].any()
    assert (seen == lengths + 1).all()  # every game stood at each of its positions once, the last included
    assert g.terminal.all()


def test_implied_passes_follow_the_rules():
    stuck = OthelloBatch.from_text("""
        X X X X
        X X X X
        X X O .
        . . . .""", to_play="white")  # white has no disc move; black has
    assert implied_passes(stuck).tolist() == [True]
    assert implied_passes(OthelloBatch.from_text(stuck.render(0), to_play="black")).tolist() == [False]
    over = OthelloBatch.from_text("""
        X X O O
        X X O O
        X X O O
        X X O O""")
    assert over.terminal[0] and implied_passes(over).tolist() == [False]
    go = make_batch("go", 2, 5)
    assert implied_passes(go).tolist() == [False, False]  # Go writes its passes


def test_refused_moves_stop_the_game_or_raise():
    size = 6
    history, _ = ref_games(size, 1, 7)[0]
    record = [a for a in history if a != size * size]
    bad = record[:5] + [record[3]] + record[6:]  # move 6 repeats an occupied square
    after_end = record + [record[0]]             # a move written after the game's end
    moves, lengths = as_batch([record, bad, after_end])

    acts, n, done = with_passes(make_batch("othello", 3, size), moves, lengths)
    assert done.tolist() == [len(record), 5, len(record)]
    refused = [p.refused.copy() for p in replay(make_batch("othello", 3, size), moves, lengths)]
    assert [t for t, r in enumerate(refused) if r.any()] == [5] and refused[5].tolist() == [False, True, False]
    with pytest.raises(ValueError, match="written move 6"):
        list(replay(make_batch("othello", 3, size), moves, lengths, strict=True))
    with pytest.raises(ValueError, match="not legal"):
        Game.from_transcript(notation.othello_transcript(bad, size), "othello", size)
    with pytest.raises(ValueError, match="game is over"):
        Game.from_transcript(notation.othello_transcript(after_end, size), "othello", size)


def test_go_records_replay_as_written():
    acts, lens = make_batch("go", 40, 5, seed=3).random_games(2 * 25 + 8)
    assert (acts == 25).sum() >= 40, "the sample must hold passes"
    out, n, done = with_passes(make_batch("go", 40, 5), acts.astype(np.int64), lens)
    assert (n == lens).all() and (done == lens).all()
    for b in range(40):
        assert out[b, : n[b]].tolist() == acts[b, : lens[b]].tolist()
        assert written_move_colours(acts[b, : lens[b]], "go", 5).tolist() == [i % 2 for i in range(lens[b])]


def test_a_record_that_stops_at_a_forced_pass_leaves_it_implied():
    size = 4
    history, positions = next((h, p) for h, p in ref_games(size, 50, 3) if size * size in h[:-1])
    k = history.index(size * size)  # the first pass: the written moves before it make the record
    record = [a for a in history[:k] if a != size * size]
    moves, lengths = as_batch([record])
    acts, n, done = with_passes(make_batch("othello", 1, size), moves, lengths)
    assert acts[0, : n[0]].tolist() == history[:k] and done[0] == len(record)  # no pass written at the end
    g = make_batch("othello", 1, size)
    last = list(replay(g, moves, lengths))[len(record)]
    # ...but the position after the record is the one after the pass: the other side writes next.
    assert last.at[0] and last.passed[0] and g.to_play[0] == (positions[len(record)][1] == -1)
    assert Game.from_transcript(notation.othello_transcript(record, size), "othello", size).history == history[:k]
