"""The engine bootstrap: engine games over GTP as a transcript dataset with results (arena.engine_games),
their replay into training positions checked against the slow one-game rules, and ``arena train
--init-transcripts`` learning an engine's moves before self-play, recorded in every checkpoint."""

import json
import sys

import numpy as np
import pytest
import torch

from agents.alphazero.bootstrap import positions
from agents.alphazero.config import TrainConfig
from agents.alphazero.network import new_net
from agents.alphazero.train import origin, train
from agents.common import checkpoint
from agents.common import transcripts as T
from agents.common.tokenizer import Tokenizer
from arena.engine_games import engine_games, engine_players, engine_tournament
from arena.tournament import TournamentConfig, run_tournament, tournament_games
from envs.game import Game

# Our own GTP server as the engine: always installed (GNU Go and gtp-rhino are exercised by the ladder's tests).
GREEDY = f"{sys.executable} -m arena.cli gtp --game othello --size 6 --agent greedy --seed {{level}}"


def quiet(*a, **k):
    pass


def dataset(tmp_path, game, size, players, games, name="d", plies=2, val=0.2):
    cfg = TournamentConfig(game=game, size=size, players=players, games=games, openings=games // 2,
                           opening_plies=plies, balance=1.0, anchor=players[0].partition("=")[0], workers=0)
    run_tournament(cfg, str(tmp_path / f"{name}_t"), progress=False, log=quiet)
    T.write_dataset(str(tmp_path / name), Tokenizer(game, size), tournament_games(str(tmp_path / f"{name}_t"), game, size),
                    "tournament", 0, val, progress=False)
    return T.Dataset(str(tmp_path / name))


def slow_positions(data, split, game, size):
    """The same positions, one game at a time through envs.game.Game (the reference)."""
    out = []
    for row, res in zip(data.rows(split), data.results(split)):
        g = Game(game, size)
        for a in data.tokenizer.decode(row):
            while game == "othello" and g.legal_actions() == [size * size]:
                g.play(size * size)  # the forced pass the transcript leaves out
            if len(g.legal_actions()) > 1:
                v = 2 * res - 1
                out.append((g.observation().astype(np.uint8), a, v if g.to_play == 0 else -v))
            g.play(a)
    return out


@pytest.mark.parametrize("game,size", [("othello", 6), ("go", 5)])
def test_positions_agree_with_the_one_game_rules(tmp_path, game, size):
    data = dataset(tmp_path, game, size, ("random=random", "greedy=greedy"), 12)
    cfg = TrainConfig(game=game, size=size)
    obs, act, z, legal, counts = positions(data, cfg, "train")
    ref = slow_positions(data, "train", game, size)
    assert counts["games"] == data.count("train") and counts["cut_short"] == 0 and counts["no_result"] == 0
    assert len(ref) == len(obs) == counts["positions"] > 0
    assert all(legal[np.arange(len(act)), act])
    for (o, a, v), o2, a2, v2 in zip(ref, obs, act, z):
        assert a == a2 and v == v2 and np.array_equal(o, o2)


def test_positions_refuse_another_board(tmp_path):
    data = dataset(tmp_path, "othello", 6, ("random=random", "greedy=greedy"), 2)
    with pytest.raises(ValueError, match="holds othello 6x6 games; this run is othello 8x8"):
        positions(data, TrainConfig(game="othello", size=8), "train")


def test_engine_players_and_levels():
    assert engine_players("/bin/eng", "", "go") == ("engine_a=gtp:/bin/eng", "engine_b=gtp:/bin/eng")
    assert [p.partition("=")[0] for p in engine_players("e -l {level}", "1-3", "othello")] == \
        ["engine1", "engine2", "engine3"]
    assert engine_players("e -l {level}", "2", "othello")[1] == "engine2b=gtp:e -l 2"
    for cmd, levels, msg in [("e -l {level}", "", "give --levels"), ("e", "1-2", "needs {level}"),
                             ("e -l {level}", "3-1", "runs downwards"), ("e -l {level}", "x", "bad levels"),
                             ("", "", "needs a command"), ("gnugo", "", "plays go, not othello")]:
        with pytest.raises(ValueError, match=msg):
            engine_players(cmd, levels, "othello")


def test_engine_games_become_a_dataset_with_results_and_resume(tmp_path):
    cfg = engine_tournament(GREEDY, "othello", 6, 4, levels="1,2", opening_plies=3, workers=0, openings=20)
    assert cfg.games == 4 and cfg.balance == 1.0
    compute = {}
    out = str(tmp_path / "d")
    m = T.write_dataset(out, Tokenizer("othello", 6), engine_games(cfg, out + "/games", log=quiet, compute=compute),
                        "gtp", 0, 0.25, progress=False)
    assert m["results"] and compute["engine_games"] == 4 and compute["forfeits"] == 0
    assert m["counts"]["generated"] == 4
    # A rerun asking for more games plays only the new ones in the same tournament.
    more = engine_tournament(GREEDY, "othello", 6, 6, levels="1,2", opening_plies=3, workers=0, openings=20)
    with pytest.raises(ValueError, match="distinct openings of 1 plies on othello 6x6 .*use more --opening-plies"):
        engine_tournament(GREEDY, "othello", 6, 6, levels="1,2", opening_plies=1, workers=0)
    # Interrupted (Ctrl-C, SIGTERM) after them, it still gives every game finished so far.
    import arena.engine_games as E

    real = E.run_tournament

    def interrupted(cfg, out, **kw):
        real(cfg, out, **kw)
        raise KeyboardInterrupt
    logs = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(E, "run_tournament", interrupted)
        recs = list(engine_games(more, out + "/games", log=logs.append))
    assert len(recs[0][1]) == 6 and any("interrupted" in x for x in logs)
    games = [json.loads(x) for x in open(out + "/games/games.jsonl")]
    assert sorted(g["id"] for g in games) == sorted({g["id"] for g in games}) and len(games) == 6


def test_transcripts_cli_gtp_source_errors(tmp_path, capsys):
    from arena.cli import main

    for args, msg in [(["--source", "gtp:e -l {level}"], "give --levels"),
                      (["--source", "random", "--levels", "1-2", "--games", "2"], "--levels applies to --source gtp"),
                      (["--game", "go", "--source", "gtp:gtp-rhino"], "gtp-rhino plays othello, not go")]:
        assert main(["transcripts", *args, "--out", str(tmp_path / "x")]) == 2
        assert msg in capsys.readouterr().err
    assert not (tmp_path / "x" / "manifest.json").exists()


def test_train_bootstraps_from_engine_games_and_records_it(tmp_path):
    # 120 games of greedy (the most discs, ties broken at random) against itself from random openings.
    data = dataset(tmp_path, "othello", 6, ("g1=greedy", "g2=greedy"), 120, plies=4)
    cfg = TrainConfig(game="othello", size=6, network="b4c64", workers=0, games_in_flight=8, simulations=4,
                      cheap_simulations=2, min_replay=40, batch_size=64, eval_every=0, inference="torch",
                      init_transcripts=data.path, init_epochs=8, lr=3e-3, max_steps=3, minutes=30)
    logs = []
    run = tmp_path / "run"
    net, step = train(cfg, str(run), log=logs.append)
    ck = checkpoint.load(str(run), kind="alphazero")
    boot = ck["meta"]["bootstrap"]
    assert boot["games"] == data.count("train") and boot["positions"] > 0 and boot["steps"] > 0
    assert origin(ck["meta"]) == f"bootstrapped from {boot['games']} games of tournament"
    first, kept = boot["passes"][0], boot["passes"][boot["kept_pass"] - 1]
    # It learned the engine's moves and results: held out, it picks greedy's move far more often than a
    # uniformly random legal move would (measured: 0.41 against 0.22) and than after its first pass, and
    # its value error fell.
    chance = float(np.mean(1 / positions(data, cfg, "val")[3].sum(1)))
    assert kept["top1"] > 1.6 * chance and kept["top1"] > first["top1"] + 0.08, (chance, boot["passes"])
    assert kept["value_mse"] < first["value_mse"], boot["passes"]
    assert ck["compute"]["trained"] >= boot["samples"]
    # The learner starts once min_replay self-play positions are in: the bootstrap's samples (the engine's
    # positions, 8 passes) do not count against the buffer's sample-reuse cap, which would hold it back
    # until self-play had added as many positions as the bootstrap trained on, over 8.
    assert ck["compute"]["positions"] < boot["positions"], (ck["compute"]["positions"], boot["positions"])
    rows = [json.loads(x) for x in open(run / "metrics.jsonl")]
    assert rows[0]["bootstrap"]["games"] == boot["games"]
    # A resume does not bootstrap again, and keeps saying where the weights came from.
    logs.clear()
    train(TrainConfig.from_dict({**ck["config"], "max_steps": 6}), str(run), resume=True, log=logs.append)
    assert not any("engine bootstrap from" in str(x) for x in logs)
    assert checkpoint.load(str(run), kind="alphazero")["meta"]["bootstrap"] == boot
    # A warm start from it says it started from a bootstrapped net.
    warm = train(TrainConfig.from_dict({**ck["config"], "init": str(run), "init_transcripts": "", "max_steps": 2}),
                 str(tmp_path / "warm"), log=logs.append)
    warm_ck = checkpoint.load(str(tmp_path / "warm"), kind="alphazero")
    assert warm[1] == 2 == warm_ck["step"]  # a warm start is a new run: its own two steps
    assert warm_ck["meta"]["init"]["step"] == 6 and origin(warm_ck["meta"]).startswith("bootstrapped from")
    total = checkpoint.total_compute(warm_ck)  # the net it went on from counts (a chain of warm starts adds up)
    for key in ("seconds", "trained", "flops"):
        assert total[key] == warm_ck["compute"][key] + checkpoint.load(str(run))["compute"][key]
    # arena export: the small model file to ship says where its weights came from, and plays.
    from arena.cli import main
    from arena.specs import make_agent

    out = str(tmp_path / "models" / "net.pt")
    assert main(["export", "--ckpt", str(run), "--out", out, "--command", "arena train ..."]) == 0
    shipped = checkpoint.load(out, kind="alphazero")
    assert shipped["optimizer"] == {} and shipped["meta"]["knowledge"] == origin(ck["meta"])
    assert shipped["meta"]["source"] == "arena train ..." and shipped["step"] == 6
    # The shipped file holds the run's weights, and its policy-only player plays their top legal move,
    # worked out here with the run's own net along a few plies.
    last = checkpoint.load(str(run), kind="alphazero")
    assert all(torch.equal(shipped["weights"][k], v) for k, v in last["weights"].items())
    net = new_net(TrainConfig.from_dict(last["config"]))
    net.load_state_dict(last["weights"])
    net.eval()
    agent, g = make_agent(f"az:{out},sims=0", "othello", 6), Game("othello", 6)
    for _ in range(6):
        with torch.no_grad():
            logits = net(torch.from_numpy(g.observation()[None]))[0][0]
        legal = g.legal_actions()
        want = max(legal, key=lambda a: logits[a].item())
        assert agent.act(g)[0] == want
        g.play(want)
    assert main(["export", "--ckpt", str(run), "--out", out]) == 2  # never overwrites


def test_zero_knowledge_is_said(tmp_path):
    assert origin({}) == "zero-knowledge"
    assert origin({"init": {"path": "x", "step": 3, "meta": {}}}) == "zero-knowledge"


def test_a_stopped_bootstrap_goes_on_exactly(tmp_path):
    """A stop (a signal or the budget) in the middle of the engine bootstrap's second pass writes a checkpoint;
    the resume goes on from that step and ends with the weights, summary and compute of the run that was never
    stopped (the bootstrap of a real run is most of an hour and saved nothing before it ended)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = dataset(tmp_path, "othello", 6, ("g1=greedy", "g2=greedy"), 60, plies=4)
        cfg = TrainConfig(game="othello", size=6, network="b4c64", workers=0, games_in_flight=8, simulations=4,
                          cheap_simulations=2, min_replay=40, batch_size=32, eval_every=0, inference="torch",
                          init_transcripts=data.path, init_epochs=2.5, lr=3e-3, max_steps=2, minutes=30, seed=4)
        train(cfg, str(tmp_path / "a"), log=quiet)
        calls = []

        def halt(step):  # called once before the bootstrap, then before each of its steps
            calls.append(step)
            return len(calls) > 60

        logs = []
        assert train(cfg, str(tmp_path / "b"), log=logs.append, halt=halt)[1] == 0
        ck = checkpoint.load(str(tmp_path / "b"), kind="alphazero")
        partial = ck["state"]["bootstrap"]
        assert partial["step"] == 59 and partial["epoch"] == 1 and len(partial["passes"]) == 1, partial["k"]
        assert ck["compute"]["trained"] == partial["samples"] and "bootstrap" not in ck["meta"]
        assert any("engine bootstrap stopped at step 59" in str(x) for x in logs)
        with pytest.raises(ValueError, match="init_epochs=2.5, not init_epochs=3.0: its engine bootstrap stopped"):
            train(TrainConfig.from_dict({**ck["config"], "init_epochs": 3.0}), str(tmp_path / "b"), resume=True,
                  log=quiet)
        train(cfg, str(tmp_path / "b"), resume=True, log=logs.append)
        assert any("going on from step 59" in str(x) for x in logs)
        a, b = (checkpoint.load(str(tmp_path / d), kind="alphazero") for d in "ab")
        assert a["step"] == b["step"] == 2 and "bootstrap" not in b["state"]
        assert set(a["weights"]) == set(b["weights"])
        assert all(torch.equal(a["weights"][k], b["weights"][k]) for k in a["weights"])
        drop = lambda m: {k: v for k, v in m["bootstrap"].items() if k != "seconds"}  # noqa: E731
        assert drop(a["meta"]) == drop(b["meta"])
        for key in ("trained", "forward_passes", "games", "positions"):
            assert a["compute"][key] == b["compute"][key], key
    finally:
        torch.set_num_threads(before)
