"""Tournaments: ratings against known truth, schedules, determinism, resume, records, the viewer
(in headless Chromium when installed) and ``arena play``."""

import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from arena.match.human import play_terminal
from arena.tournament import TournamentConfig, make_openings, read_games, run_tournament, schedule
from arena.tournament import ratings as R
from arena.tournament.records import result_string
from envs.game import Game
from tests.conftest import need

SMALL = TournamentConfig(game="othello", size=6, players=("random=random", "greedy=greedy", "m20=mcts:rollouts=20"),
                         games=4, workers=0, seed=3)


def quiet(*a, **k):
    pass


# -- ratings ----------------------------------------------------------------------------------------------

def simulate(true, h, n, seed=0, draw=0.0):
    rng = np.random.default_rng(seed)
    games = []
    names = list(true)
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            for k in range(n):
                b, w = (x, y) if k % 2 == 0 else (y, x)
                p = R.expected_score(true[b] - true[w] + h)
                u = rng.random()
                # Draws take equally from both sides, so black's expected score stays p.
                s = 0.5 if u < draw else float(rng.random() < (p - draw / 2) / (1 - draw))
                games.append((b, w, s))
    return games


def test_ratings_recover_known_strengths_and_first_mover():
    true = {"a": 0, "b": 150, "c": 300, "d": 420}
    games = simulate(true, 70, 1500, seed=1, draw=0.1)
    fit = R.fit(games, list(true), "a", prior_draws=0)
    for p, r in true.items():
        assert abs(fit["ratings"][p] - r) < 3 * fit["stderr"][p] + 1e-9
    h, se = fit["first_mover"]
    assert abs(h - 70) < 3 * se
    assert 0 < fit["stderr"]["b"] < 15  # 4500 games per player give tight intervals
    assert R.los(fit, "d", "a") > 0.999 and R.los(fit, "a", "d") < 0.001
    assert abs(R.los(fit, "b", "c") + R.los(fit, "c", "b") - 1) < 1e-9


def test_ratings_anchor_shift_and_symmetry():
    games = simulate({"x": 0, "y": 200}, 0, 400, seed=2)
    f0 = R.fit(games, ["x", "y"], "x")
    f1 = R.fit(games, ["x", "y"], "y", anchor_rating=1000)
    assert abs((f0["ratings"]["y"] - f0["ratings"]["x"]) - (f1["ratings"]["y"] - f1["ratings"]["x"])) < 1e-6
    assert f1["ratings"]["y"] == 1000 and f1["stderr"]["y"] == 0


def test_perfect_score_is_finite_with_virtual_draws_and_unlinked_players_are_refused():
    games = [("s", "w", 1.0), ("w", "s", 0.0)] * 50
    f = R.fit(games, ["s", "w"], "w", prior_draws=1.0)
    # 100 wins + 1 virtual draw: 100.5 / 101 -> 400 * log10(201) = 921 Elo.
    assert abs(f["ratings"]["s"] - 400 * np.log10(100.5 / 0.5)) < 5
    with pytest.raises(ValueError, match="no games link z to the anchor 'w'"):
        R.fit(games, ["s", "w", "z"], "w")
    with pytest.raises(ValueError, match="anchor 'q' is not a player"):
        R.fit(games, ["s", "w"], "q")


# -- agent specs -------------------------------------------------------------------------------------------

def test_specs_build_every_kind_and_reject_bad_ones(tmp_path):
    import torch

    from agents.alphazero.network import new_net
    from agents.alphazero.train import save_checkpoint
    from agents.alphazero.config import TrainConfig
    from arena.match import play_game
    from arena.specs import make_agent

    cfg = TrainConfig(game="othello", size=6, network="b4c64")
    os.makedirs(tmp_path / "checkpoints")
    net = new_net(cfg)
    path = save_checkpoint(str(tmp_path), net, torch.optim.SGD(net.parameters(), lr=0.1), 7, cfg,
                           np.random.default_rng(0))
    for spec in ("random", "greedy", "mcts:rollouts=8", "mcts:8", "mcts:rollouts=8,per_leaf=2,root=gumbel",
                 f"az:{path},sims=4", f"az:{path},sims=0", f"az:{path},sims=0,temp=1", f"az:{path},sims=3,root=puct"):
        a = make_agent(spec, "othello", 6, seed=1)
        r = play_game(a, make_agent("random", "othello", 6), "othello", 6, seed=2)
        assert r["reason"] == "end" and r["plies"] >= 20, spec
    for spec, msg in [("mcts:rollouts=0", "rollouts must be at least 1"), ("mcts:sims=5", "unknown option 'sims'"),
                      ("greedy:3", "unknown agent spec"), (f"az:{tmp_path}/none.pt", "no checkpoint at"),
                      ("az:", "needs a checkpoint path"), ("gtp:", "gtp needs a command")]:
        with pytest.raises(ValueError, match=msg):
            make_agent(spec, "othello", 6)
    with pytest.raises(ValueError, match="was trained on othello 6x6, not othello 8x8"):
        make_agent(f"az:{path}", "othello", 8)


# -- config and schedule -------------------------------------------------------------------------------------

def test_config_errors_are_one_line():
    with pytest.raises(ValueError, match="at least two players"):
        TournamentConfig(players=("random",))
    with pytest.raises(ValueError, match="appears twice"):
        TournamentConfig(players=("a=random", "a=greedy"), anchor="a")
    with pytest.raises(ValueError, match="must not contain spaces"):
        TournamentConfig(players=("random", "gtp:/usr/games/gnugo --mode gtp"))
    with pytest.raises(ValueError, match="anchor 'random' is not a player"):
        TournamentConfig(players=("a=greedy", "b=greedy"))
    with pytest.raises(ValueError, match="gauntlet mode needs focus"):
        TournamentConfig(mode="gauntlet")


def test_yaml_mapping_of_players(tmp_path):
    from agents.common.config import load_config

    p = tmp_path / "t.yaml"
    p.write_text("game: othello\nsize: 6\nplayers:\n  random: random\n  m50: mcts:rollouts=50\n"
                 "  rhino: gtp:/usr/games/gtp-rhino -l 1\n")
    cfg = load_config(TournamentConfig, p)
    assert cfg.roster() == {"random": "random", "m50": "mcts:rollouts=50", "rhino": "gtp:/usr/games/gtp-rhino -l 1"}
    # The command line's --player list replaces the players before the checks: --set anchor= may name one.
    cfg = load_config(TournamentConfig, p, ["anchor=m", "size=6"], players=("m=mcts:rollouts=50", "g=greedy"))
    assert cfg.anchor == "m" and cfg.roster() == {"m": "mcts:rollouts=50", "g": "greedy"}


def test_schedule_round_robin_and_gauntlet():
    cfg = dataclasses.replace(SMALL, games=6)
    jobs = schedule(cfg)
    assert len(jobs) == 3 * 6 and len({j["id"] for j in jobs}) == len(jobs)
    for j in jobs:
        a, b = j["pair"]
        assert (j["black"], j["white"]) == ((a, b) if j["k"] % 2 == 0 else (b, a))  # colours alternate
    g = dataclasses.replace(cfg, mode="gauntlet", focus="m20")
    assert {tuple(j["pair"]) for j in schedule(g)} == {("m20", "random"), ("greedy", "m20")}


def test_openings_distinct_deterministic_and_balanced():
    cfg = dataclasses.replace(SMALL, openings=6, opening_plies=3, balance=0.5)
    o1, o2 = make_openings(cfg), make_openings(cfg)
    assert o1 == o2 and len(o1) == 6 and len({tuple(o) for o in o1}) == 6
    for o in o1:
        Game("othello", 6).play_all(o)  # legal
    jobs = schedule(dataclasses.replace(cfg, games=4))
    pair = [j for j in jobs if j["pair"] == ["greedy", "m20"]]
    assert [j["opening"] for j in pair] == [0, 0, 1, 1]  # each opening with both colours


# -- running ---------------------------------------------------------------------------------------------------

def test_small_tournament_writes_everything(tmp_path):
    out = str(tmp_path / "t")
    rep = run_tournament(SMALL, out, progress=False, log=quiet)
    for f in ("tournament.json", "games.jsonl", "ratings.md", "ratings.csv", "ratings.json", "ratings.png",
              "transcripts.txt", "records.jsonl", "viewer.html"):
        assert os.path.getsize(os.path.join(out, f)) > 0, f
    games = read_games(out)
    assert len(games) == 12
    assert {r["player"] for r in rep["rows"]} == {"random", "greedy", "m20"}
    assert [r["elo"] for r in rep["rows"] if r["player"] == "random"] == [0.0]
    # Records replay to the recorded results.
    lines = open(os.path.join(out, "transcripts.txt")).read().split("\n")[:-1]
    recs = [json.loads(x) for x in open(os.path.join(out, "records.jsonl"))]
    assert len(lines) == len(recs) == 12
    for line, rec in zip(lines, recs):
        g = Game.from_transcript(line, "othello", 6)
        assert g.terminal and rec["result"] == result_string({"reason": "end", "margin": g.final_margin()})
    png = open(os.path.join(out, "ratings.png"), "rb").read(8)
    assert png == b"\x89PNG\r\n\x1a\n"
    csv = open(os.path.join(out, "ratings.csv")).read().splitlines()
    assert csv[0].startswith("player,spec,elo,ci95_low,ci95_high") and len(csv) == 4


def test_same_seed_same_games_and_resume_after_a_kill(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    run_tournament(SMALL, a, progress=False, log=quiet)
    ga = {g["id"]: g["moves"] for g in read_games(a)}
    # A killed run: half the games, then a torn last line.
    run_tournament(SMALL, b, progress=False, log=quiet)
    path = os.path.join(b, "games.jsonl")
    lines = open(path).read().splitlines(True)
    open(path, "w").write("".join(lines[:5]) + lines[5][:17])
    assert len(read_games(b)) == 5  # the torn line is dropped
    played = []
    run_tournament(SMALL, b, progress=False, log=played.append)
    assert "7 games to play (5 already" in played[0]
    gb = {g["id"]: g["moves"] for g in read_games(b)}
    assert ga == gb  # the resumed tournament has exactly the uninterrupted games


def test_rerun_with_another_config_is_refused_and_new_players_are_added(tmp_path):
    out = str(tmp_path / "t")
    run_tournament(SMALL, out, progress=False, log=quiet)
    with pytest.raises(ValueError, match="holds a tournament with seed=3, not 4"):
        run_tournament(dataclasses.replace(SMALL, seed=4), out, progress=False, log=quiet)
    with pytest.raises(ValueError, match="player 'm20' was 'mcts:rollouts=20' there"):
        run_tournament(dataclasses.replace(SMALL, players=("random=random", "greedy=greedy", "m20=mcts:30")),
                       out, progress=False, log=quiet)
    log = []
    bigger = dataclasses.replace(SMALL, players=SMALL.players + ("m5=mcts:rollouts=5",))
    rep = run_tournament(bigger, out, progress=False, log=log.append)
    assert "12 games to play (12 already" in log[0]
    assert len(read_games(out)) == 24 and {r["player"] for r in rep["rows"]} == {"random", "greedy", "m20", "m5"}


def test_a_typo_in_a_spec_writes_nothing_and_the_corrected_command_runs(tmp_path):
    out = tmp_path / "t"
    typo = dataclasses.replace(SMALL, players=("random=random", "greedy=greedy", "m20=mcst:20"))
    with pytest.raises(ValueError, match="unknown agent spec 'mcst:20'"):
        run_tournament(typo, str(out), progress=False, log=quiet)
    assert not out.exists()
    out.mkdir()  # an existing, empty --out is left as it was too
    with pytest.raises(ValueError, match="unknown agent spec"):
        run_tournament(typo, str(out), progress=False, log=quiet)
    assert os.listdir(out) == []
    rep = run_tournament(SMALL, str(out), progress=False, log=quiet)
    assert rep["games"] == len(read_games(str(out))) > 0


def test_forfeits_are_recorded_and_the_tournament_goes_on(tmp_path):
    fake = f"{sys.executable} {os.path.join(os.path.dirname(__file__), 'fake_gtp.py')} crash"
    cfg = dataclasses.replace(SMALL, players=("random=random", f"broken=gtp:{fake}"), games=4)
    rep = run_tournament(cfg, str(tmp_path / "t"), progress=False, log=quiet)
    games = read_games(str(tmp_path / "t"))
    assert len(games) == 4 and all("forfeit" in g["reason"] and "broken" in (g["black"], g["white"]) for g in games)
    row = {r["player"]: r for r in rep["rows"]}
    assert row["broken"]["forfeits"] == 4 and row["broken"]["score"] == 0


def test_parallel_ray_workers_play_the_same_games(tmp_path):
    seq, par = str(tmp_path / "seq"), str(tmp_path / "par")
    cfg = dataclasses.replace(SMALL, games=2)
    run_tournament(cfg, seq, progress=False, log=quiet)
    run_tournament(dataclasses.replace(cfg, workers=2), par, progress=False, log=quiet)
    key = lambda d: {g["id"]: (g["moves"], g["result"]) for g in read_games(d)}  # noqa: E731
    assert key(seq) == key(par)


def test_go_tournament_writes_sgf(tmp_path):
    cfg = TournamentConfig(game="go", size=5, players=("random=random", "greedy=greedy"), games=2, workers=0)
    out = str(tmp_path / "go")
    run_tournament(cfg, out, progress=False, log=quiet)
    recs = [json.loads(x) for x in open(os.path.join(out, "records.jsonl"))]
    assert len(recs) == 2
    for rec in recs:
        data = open(os.path.join(out, rec["file"]), "rb").read()
        g = Game.from_sgf(data)
        assert g.terminal and f"RE[{rec['result']}]".encode() in data
        assert f"PB[{rec['black']}]".encode() in data


def test_cli_tournament_ratings_and_view(tmp_path):
    out = str(tmp_path / "cli")
    arena = [sys.executable, "-m", "arena.cli"]
    p = subprocess.run(arena + ["tournament", "--player", "random", "--player", "greedy", "--set", "size=6",
                                "--set", "games=2", "--set", "workers=0", "--out", out],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "| rank | player | Elo | 95% CI |" in p.stdout
    p = subprocess.run(arena + ["ratings", out], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "| 1 |" in p.stdout
    p = subprocess.run(arena + ["view", out], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and p.stdout.strip().endswith("viewer.html")
    p = subprocess.run(arena + ["tournament", "--player", "random", "--player", "bogus:1", "--out", out + "2"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and p.stderr.startswith("arena: error: unknown agent spec 'bogus:1'")
    p = subprocess.run(arena + ["view", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "not a tournament results directory" in p.stderr


# -- the viewer in a real browser ------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_viewer_draws_the_recorded_position_in_headless_chromium(tmp_path):
    need(CHROMIUM, "Chromium", "chromium")
    out = str(tmp_path / "v")
    run_tournament(dataclasses.replace(SMALL, games=2), out, progress=False, log=quiet)
    from arena.tournament.records import game_order

    games = game_order(read_games(out))
    gi, ply = 3, 9
    g = Game("othello", 6).play_all(games[gi]["moves"][:ply])
    cells = g.cells()
    p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                        f"file://{out}/viewer.html#g={gi}&ply={ply}"], capture_output=True, text=True, timeout=120)
    dom = p.stdout
    import re

    m = re.search(r'<svg id="board"[^>]*data-ply="(\d+)" data-black="(\d+)" data-white="(\d+)" data-game="([^"]+)"',
                  dom)
    assert m, dom[:500]
    assert m.groups() == (str(ply), str(int((cells == 1).sum())), str(int((cells == -1).sum())), games[gi]["id"])
    assert dom.count('class="stone black"') == (cells == 1).sum()
    assert dom.count('class="stone white"') == (cells == -1).sum()


# -- arena play ------------------------------------------------------------------------------------------------

def test_terminal_play_errors_undo_and_quit():
    out = io.StringIO()
    g = play_terminal("othello", 8, "greedy", "black", stdin=io.StringIO("zz\na1\npass\nhint\nd3\nundo\nc4\nquit\n"),
                      out=out)
    text = out.getvalue()
    assert "not a move: not an Othello move on a 8x8 board: 'zz'" in text
    assert "illegal move a1: not legal here; legal: d3 c4 f5 e6" in text
    assert "illegal move pass: pass is not allowed here" in text
    assert "legal: d3 c4 f5 e6" in text
    assert "took back your last move" in text and "game left unfinished" in text
    assert g.history[0] == Game("othello").parse("c4") and len(g.history) == 2


def test_terminal_play_to_the_end():
    """A scripted person reads the printed board, as a person would, and plays its first '*' square."""
    out = io.StringIO()

    class Person:
        def readline(self):
            text = out.getvalue()
            board = text[text.rindex("   a b c d"):].splitlines()[1:5]
            for r, row in enumerate(board):
                cells = row.split()[1:]
                if "*" in cells:
                    return f"{'abcd'[cells.index('*')]}{r + 1}\n"
            return "pass\n"

    g = play_terminal("othello", 4, "random", "white", seed=2, stdin=Person(), out=out)
    assert g.terminal
    last = out.getvalue().splitlines()[-1]
    m = g.final_margin()
    assert last == f"game over: {'you win' if m < 0 else 'you lose' if m > 0 else 'a draw'} by {abs(m):g}"
