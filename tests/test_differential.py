"""Random games through the Numba kernels and the plain-Python references, compared at every step:
legal masks, terminal flags and rewards (and the Go area count at the end)."""

import random

import numpy as np
import pytest

from envs.core import make_batch
from envs.reference import GoRef, OthelloRef


def run(game, size, games, seed, pass_prob=None, batch=50):
    rnd = random.Random(seed)
    done_games = 0
    while done_games < games:
        B = min(batch, games - done_games)
        k = make_batch(game, B, size, seed)
        refs = [OthelloRef(size) if game == "othello" else GoRef(size, k.komi) for _ in range(B)]
        step = 0
        while not all(r.over for r in refs):
            mask = k.legal_mask()
            acts = np.zeros(B, np.int64)
            live = []
            for b, r in enumerate(refs):
                legal = r.legal_actions()
                expect = np.zeros(k.num_actions, bool)
                expect[legal] = True
                assert (mask[b] == expect).all(), (
                    f"{game}{size} seed {seed} game {b} step {step}: kernel legal "
                    f"{np.flatnonzero(mask[b]).tolist()} vs reference {legal}\n{k.render(b)}")
                assert bool(k.terminal[b]) == r.over
                if r.over:
                    continue
                moves = [a for a in legal if a != size * size]
                if pass_prob is not None and moves and rnd.random() >= pass_prob:
                    a = rnd.choice(moves)
                else:
                    a = rnd.choice(legal)
                acts[b] = a
                live.append(b)
                r.step(a)
            sub = k.take(live)
            sub.step(acts[live])
            k.put(live, sub)
            rew = k.reward()
            for b, r in enumerate(refs):
                assert bool(k.terminal[b]) == r.over
                assert rew[b] == r.reward(), f"{game}{size} game {b}: reward {rew[b]} vs {r.reward()}"
                if game == "go" and r.over:
                    assert k.area_score(b) == r.area()
            step += 1
        done_games += B
        seed += 1


@pytest.mark.parametrize("size,games", [(4, 1000), (6, 600), (8, 300)])
def test_othello_vs_reference(size, games):
    run("othello", size, games, seed=size)


@pytest.mark.parametrize("size,games,pass_prob", [(5, 600, None), (5, 400, 0.03), (7, 150, 0.03), (9, 60, None)])
def test_go_vs_reference(size, games, pass_prob):
    # pass_prob 0.03: rarely pass, so games run to the ply cap through many captures, kos and superkos
    run("go", size, games, seed=100 + size, pass_prob=pass_prob)


@pytest.mark.slow
@pytest.mark.parametrize("game,size,games,pass_prob", [
    ("othello", 8, 3000, None), ("go", 5, 5000, 0.03), ("go", 9, 500, 0.03), ("go", 9, 500, None)])
def test_many_vs_reference(game, size, games, pass_prob):
    run(game, size, games, seed=7, pass_prob=pass_prob)
