"""Batched play: per-game random streams make a game's moves independent of its batch; ``play_games``
gives ``play_game``'s records; tournaments give the same games at any ``batch_games`` (baseline players)
and any number of workers (net players too), resume a cut chunk exactly, and keep GTP engines one game
per task."""

import dataclasses
import json
import os
import sys

import numpy as np
import pytest
import torch

from agents.alphazero.config import TrainConfig
from agents.alphazero.network import new_net
from agents.alphazero.train import save_checkpoint
from agents.players import Agent, MCTSAgent, PolicyAgent, as_batch, make_baseline, random_argmax
from agents.search.evaluators import RolloutEvaluator, UniformEvaluator
from agents.search.streams import GameStreams
from arena.match import play_game, play_games
from arena.tournament import TournamentConfig, chunks, read_games, run_tournament
from arena.tournament import run as tournament
from envs.core import make_batch

BASE = TournamentConfig(game="othello", size=6, players=("random=random", "greedy=greedy", "m8=mcts:rollouts=8"),
                        games=6, openings=3, opening_plies=2, balance=1.0, workers=0, seed=5)


def quiet(*a, **k):
    pass


def games_of(out):
    """Every recorded field of every game but its wall-clock time."""
    return {g["id"]: {k: v for k, v in g.items() if k != "seconds"} for g in read_games(out)}


@pytest.fixture(scope="module")
def net_ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("net")
    cfg = TrainConfig(game="othello", size=6, network="b4c64")
    torch.manual_seed(0)
    net = new_net(cfg)
    return save_checkpoint(str(d), net, torch.optim.SGD(net.parameters(), lr=0.1), 1, cfg, np.random.default_rng(0))


# -- per-game streams --------------------------------------------------------------------------------------

def players():
    """Batch players that draw random numbers in every way a player does: tie-breaks (random, greedy),
    rollouts, PUCT root noise with temperature sampling, Gumbel noise, and a policy sampled at temperature 1."""
    return {"random": make_baseline("random"), "greedy": make_baseline("greedy"),
            "rollouts": make_baseline("mcts:rollouts=12"),
            "puct_noise_temp": MCTSAgent(RolloutEvaluator(2), simulations=10, dirichlet_fraction=0.25, temperature=1.0),
            "gumbel": make_baseline("mcts:rollouts=10,root=gumbel"),
            "policy_temp": PolicyAgent(UniformEvaluator(), temperature=1.0)}


@pytest.mark.parametrize("name", list(players()))
def test_a_game_draws_the_same_alone_or_in_any_batch(name):
    g = make_batch("othello", 6, 6, seed=1)
    for _ in range(4):
        g.step(g.random_actions())
    seeds = [11, 22, 33, 44, 55, 66]
    agent = players()[name]
    alone = []
    for b, s in enumerate(seeds):  # one game at a time, the agent reset with the game's seed
        agent.reset(s)
        alone.append([int(agent.act(g.take([b]))[0]) for _ in range(3)])
    alone = np.array(alone)
    agent = players()[name]
    streams = GameStreams(seeds)
    together = np.stack([agent.act(g, streams=streams) for _ in range(3)], axis=1)
    assert np.array_equal(together, alone)
    streams, order = GameStreams(seeds), [4, 1, 5]  # another company, another order, other rows
    part = np.stack([agent.act(g.take(order), streams=streams.take(order)) for _ in range(3)], axis=1)
    assert np.array_equal(part, alone[order])
    if name != "greedy":  # the draws matter: without streams the batch's one generator gives other moves
        assert not all(np.array_equal(agent.act(g), alone[:, 0]) for _ in range(3))


def test_streams_are_views_and_only_the_games_acted_on_draw():
    s = GameStreams([1, 2, 3])
    first = s.take([2]).random((1, 4))
    assert np.array_equal(first[0], np.random.default_rng(3).random(4))
    again = GameStreams([1, 2, 3])
    mask = np.array([[True, True], [False, False], [True, False]])
    random_argmax(np.zeros((3, 2)), mask, again)  # row 1 has no legal entry: its stream is not drawn from
    assert again.take([1]).random((1, 2)).tolist() == [np.random.default_rng(2).random(2).tolist()]
    with pytest.raises(ValueError, match="3 game streams cannot draw 2 rows"):
        s.random((2, 4))


# -- play_games ----------------------------------------------------------------------------------------------

class SometimesIllegal(Agent):
    """Random moves, except that in about one move in eight it plays a1 (an illegal corner at the start, and
    often later), drawn from the game's stream: forfeits in some games of a batch only."""

    name = "sometimes-illegal"

    def act(self, games, streams=None):
        g = as_batch(games)
        rng = self.rng if streams is None else streams
        out = random_argmax(np.zeros((g.batch_size, g.num_actions)), g.legal_mask(), rng)
        u = rng.random((g.batch_size, 1))[:, 0]
        return np.where(u < 0.125, 0, out)


@pytest.mark.parametrize("game,size,openings", [("othello", 6, [[], ["c2"], ["c2", "b2"], [], ["e4"], []]),
                                                ("go", 5, [[], ["C3"], [], ["B2", "D4"], [], []])])
def test_play_games_gives_play_games_records_with_each_agent_in_both_colours(game, size, openings):
    a, b, c = make_baseline("mcts:rollouts=6"), make_baseline("greedy"), SometimesIllegal(0)
    black, white = [a, b, a, c, b, c], [b, a, c, a, c, b]
    seeds = [5, 9, 2, 7, 1, 3]
    ended = []
    batched = {}
    for i, rec in play_games(black, white, game, size, openings=openings, seeds=seeds):
        ended.append(i)
        batched[i] = {k: v for k, v in rec.items() if k != "seconds"}
    assert sorted(ended) == list(range(6))
    for i in range(6):
        alone = play_game(black[i], white[i], game, size, opening=openings[i], seed=seeds[i])
        assert {k: v for k, v in alone.items() if k != "seconds"} == batched[i], i
    reasons = [r["reason"] for r in batched.values()]
    assert any(r.startswith("forfeit") for r in reasons) and "end" in reasons  # one game's forfeit ends it alone


# -- tournaments ---------------------------------------------------------------------------------------------

def test_chunks_are_fixed_by_the_config_and_gtp_pairs_go_one_game_per_task():
    fake = f"{sys.executable} {os.path.join(os.path.dirname(__file__), 'fake_gtp.py')} resign"
    cfg = dataclasses.replace(BASE, players=BASE.players + (f"engine=gtp:{fake}",), games=5, batch_games=2)
    try:
        cut = chunks(cfg, tournament.schedule(cfg))
    finally:
        tournament.close_agents()
    sizes = {}
    for c in cut:
        assert len({tuple(j["pair"]) for j in c}) == 1
        sizes.setdefault(tuple(c[0]["pair"]), []).append(len(c))
    for pair, s in sizes.items():
        assert s == ([1] * 5 if "engine" in pair else [2, 2, 1]), pair
    assert [j["k"] for c in cut if c[0]["pair"] == ["greedy", "m8"] for j in c] == list(range(5))


def test_baseline_games_are_the_same_at_any_batching_and_worker_count(tmp_path):
    ref = str(tmp_path / "one_per_task")
    run_tournament(dataclasses.replace(BASE, batch_games=1), ref, progress=False, log=quiet)  # play_game per game
    want = games_of(ref)
    assert len(want) == 18
    for batch, workers in ((3, 0), (4, 0), (32, 0), (4, 2)):
        out = str(tmp_path / f"b{batch}_w{workers}")
        run_tournament(dataclasses.replace(BASE, batch_games=batch, workers=workers), out, progress=False, log=quiet)
        assert games_of(out) == want, (batch, workers)


def test_net_games_are_the_same_with_any_number_of_workers(tmp_path, net_ckpt):
    cfg = dataclasses.replace(BASE, players=("random=random", f"az=az:{net_ckpt},sims=4",
                                             f"az0=az:{net_ckpt},sims=0,temp=1"), games=4, batch_games=3)
    here, there = str(tmp_path / "w0"), str(tmp_path / "w2")
    run_tournament(cfg, here, progress=False, log=quiet)
    run_tournament(dataclasses.replace(cfg, workers=2), there, progress=False, log=quiet)
    assert games_of(here) == games_of(there) and len(games_of(here)) == 12


def test_resume_replays_a_cut_net_chunk_whole_and_a_baseline_chunk_in_part(tmp_path, net_ckpt, monkeypatch):
    cfg = dataclasses.replace(BASE, players=("random=random", "greedy=greedy", f"az=az:{net_ckpt},sims=4"),
                              games=4, batch_games=4)
    full, cut = str(tmp_path / "full"), str(tmp_path / "cut")
    run_tournament(cfg, full, progress=False, log=quiet)
    want = games_of(full)
    # A killed run: two games of each pair recorded, then the kill.
    run_tournament(cfg, cut, progress=False, log=quiet)
    path = os.path.join(cut, "games.jsonl")
    with open(path) as f:
        kept = [line for line in f if json.loads(line)["k"] % 2 == 0]
    with open(path, "w") as f:
        f.write("".join(kept))
    played = []
    real = tournament.play_games

    def counting(black, white, *a, **k):
        played.append(len(black))
        return real(black, white, *a, **k)

    monkeypatch.setattr(tournament, "play_games", counting)
    log = []
    run_tournament(cfg, cut, progress=False, log=log.append)
    assert "6 games to play (6 already" in log[0]
    assert sorted(played) == [2, 4, 4]  # random-greedy plays its two left; each az chunk is replayed whole
    with open(path) as f:
        assert len(f.readlines()) == 12 and len({g["id"] for g in read_games(cut)}) == 12  # nothing recorded twice
    assert games_of(cut) == want


def test_a_tournament_with_a_gtp_engine_plays_its_games_one_per_task(tmp_path, monkeypatch):
    fake = f"{sys.executable} {os.path.join(os.path.dirname(__file__), 'fake_gtp.py')} resign"
    cfg = dataclasses.replace(BASE, players=("random=random", "greedy=greedy", f"quitter=gtp:{fake}"), games=4,
                              batch_games=4)
    single, batched = [], []
    real_one, real_many = tournament.play_game, tournament.play_games
    monkeypatch.setattr(tournament, "play_game", lambda b, w, *a, **k: single.append((b.name, w.name)) or
                        real_one(b, w, *a, **k))
    monkeypatch.setattr(tournament, "play_games", lambda b, w, *a, **k: batched.append(len(b)) or
                        real_many(b, w, *a, **k))
    run_tournament(cfg, str(tmp_path / "t"), progress=False, log=quiet)
    games = read_games(str(tmp_path / "t"))
    assert len(games) == 12 and batched == [4]
    assert len(single) == 8 and all(any(n.startswith("gtp:") for n in p) for p in single)
    assert all(g["reason"].startswith("resign") for g in games if "quitter" in g["pair"])
