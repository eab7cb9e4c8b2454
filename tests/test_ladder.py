"""``arena ladder``: levels in order, the stopping rule, the summary, resume, one-line errors, and one short
climb against gtp-rhino (skipped, saying so, when it is absent).

The fast tests climb a toy engine whose level L is pure MCTS with L rollouts (``mcts:rollouts=L``, 6x6
Othello): its games are as deterministic as the baselines' (every side draws from its own seeded stream),
so where the ladder stops is known. tests/fake_gtp.py's engines only misbehave; they have no levels."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from arena import ladder as L
from arena.cli import main
from arena.tournament import TournamentConfig, read_games
from tests.conftest import need

RHINO = shutil.which("gtp-rhino") or ("/usr/games/gtp-rhino" if os.path.exists("/usr/games/gtp-rhino") else None)
TOY = L.Engine("toy", "m", None, "-", "mcts:rollouts={level}", "othello", 6, (6,), tuple(range(1, 1001)), "1-2", 2)
# greedy against 1, 2, 10, 100 and 400 rollouts, 4 games each: 50%, 25%, 25%, 0% -> stops at 100; a score of
# exactly 25% is not under 25%, so levels 2 and 10 go on.
CLIMB = dict(agent="greedy", engine="toy", levels="1,2,10,100,400", games=4, workers=0)


@pytest.fixture(autouse=True)
def toy_engine(monkeypatch):
    monkeypatch.setitem(L.ENGINES, "toy", TOY)


def quiet(*a, **k):
    pass


def climb(out, log=quiet, **kw):
    return L.run_ladder(L.LadderConfig(**{**CLIMB, **kw}), str(out), progress=False, log=log)


def key(out):
    return {g["id"]: (g["moves"], g["result"]) for g in read_games(str(out))}


def test_levels_in_order_and_the_ladder_stops_at_the_first_level_under_25_percent(tmp_path):
    s = climb(tmp_path / "l")
    assert [lv["level"] for lv in s["levels"]] == [1, 2, 10, 100]
    assert [lv["score"] for lv in s["levels"]] == [0.5, 0.25, 0.25, 0.0]
    assert [lv["stopped"] for lv in s["levels"]] == [False, False, False, True]
    assert s["stopped_at"] == 100 and s["not_played"] == [400]
    games = read_games(str(tmp_path / "l"))
    opponents = [g["black"] if g["white"] == "agent" else g["white"] for g in games]
    assert opponents == ["m1"] * 4 + ["m2"] * 4 + ["m10"] * 4 + ["m100"] * 4  # one level after another
    assert all("agent" in (g["black"], g["white"]) for g in games)
    assert sum(g["black"] == "agent" for g in games) == 8  # both colours at every level


def test_the_summary_has_every_field_on_one_elo_scale(tmp_path):
    out = tmp_path / "l"
    s = climb(out)
    on_disk = json.load(open(out / "ladder.json"))
    assert on_disk["levels"] == s["levels"] and on_disk["stopped_at"] == 100
    for lv in s["levels"]:
        assert {"level", "player", "spec", "games", "wins", "draws", "losses", "score", "ci95", "elo", "elo_ci95",
                "stopped"} <= set(lv)
        assert lv["games"] == 4 == lv["wins"] + lv["draws"] + lv["losses"]
        assert lv["ci95"][0] <= lv["score"] <= lv["ci95"][1]
    first = s["levels"][0]
    assert first["anchor"] and first["elo"] == 0 and first["elo_ci95"] is None and s["anchor"] == "m1"
    assert all(lv["elo_ci95"][0] < lv["elo"] < lv["elo_ci95"][1] for lv in s["levels"][1:])
    assert s["levels"][3]["elo"] > s["levels"][1]["elo"] > 0  # the stronger level rates higher
    assert s["agent"]["name"] == "agent" and s["agent"]["spec"] == "greedy" and s["agent"]["games"] == 16
    # The tournament's own ratings are the same single fit over all 16 games, so `arena ratings` agrees.
    cfg = TournamentConfig.from_results(str(out))
    assert list(cfg.roster()) == ["agent", "m1", "m2", "m10", "m100"] and cfg.focus == "agent"
    assert main(["ratings", str(out)]) == 0
    rows = {r["player"]: r["elo"] for r in json.load(open(out / "ratings.json"))["rows"]}
    assert rows == {**{lv["player"]: lv["elo"] for lv in s["levels"]}, "agent": s["agent"]["elo"]}
    md = open(out / "ladder.md").read()
    assert "| 100 | m100 | 4 | 0 | 0 | 4 | 0.0% |" in md and "stopped here" in md and "Not played: level 400" in md
    assert os.path.exists(out / "viewer.html")


def test_a_rerun_resumes_without_replaying_games(tmp_path):
    out = tmp_path / "l"
    whole = climb(out)
    before = open(out / "games.jsonl").read()
    lines = []
    again = climb(out, log=lines.append)
    assert open(out / "games.jsonl").read() == before  # nothing played twice
    assert [x for x in lines if "games to play" in x] == [f"level {lv} (m{lv}): 0 of 4 games to play"
                                                          for lv in (1, 2, 10, 100)]
    assert again["levels"] == whole["levels"]
    # Cut off during level 10: the rerun plays only what is missing and ends as the whole run did.
    cut = tmp_path / "cut"
    cut.mkdir()
    shutil.copy(out / "tournament.json", cut)
    shutil.copy(out / "openings.json", cut)
    with open(cut / "games.jsonl", "w") as f:
        f.write("".join(before.splitlines(keepends=True)[:10]))
    lines = []
    resumed = climb(cut, log=lines.append)
    assert [x for x in lines if "games to play" in x][2:] == ["level 10 (m10): 2 of 4 games to play",
                                                              "level 100 (m100): 4 of 4 games to play"]
    assert key(cut) == key(out) and resumed["levels"] == whole["levels"]


def test_ray_workers_play_the_same_ladder(tmp_path):
    climb(tmp_path / "seq", levels="1,2,100")
    s = climb(tmp_path / "par", levels="1,2,100", workers=1)
    assert s["stopped_at"] == 100 and key(tmp_path / "par") == key(tmp_path / "seq")


def one_line(capsys, *argv):
    assert main(["ladder", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("arena: error:") and "\n" not in err and "Traceback" not in err
    return err


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "l")
    base = ["--agent", "greedy", "--engine", "toy", "--games", "2", "--workers", "0", "--out", out]
    assert "unknown engine 'stockfish'" in one_line(capsys, *base, "--engine", "stockfish")
    assert "bad levels '1-x'" in one_line(capsys, *base, "--levels", "1-x")
    assert "runs downwards" in one_line(capsys, *base, "--levels", "3-1")
    assert "gtp-rhino has levels 1-5, not 0, 7" in one_line(capsys, *base, "--engine", "gtp-rhino", "--levels", "0-2,7")
    assert "plays othello on sizes 8, not 6" in one_line(capsys, *base, "--engine", "gtp-rhino", "--size", "6")
    assert "unknown agent spec 'bogus'" in one_line(capsys, *base, "--agent", "bogus")
    assert "games must be at least 1" in one_line(capsys, *base, "--games", "0")
    assert "is a level's" in one_line(capsys, *base, "--agent", "m2=random")
    missing = L.Engine(**{**TOY.__dict__, "binary": "/nonexistent/no-such-engine", "package": "no-such-pkg"})
    monkeypatch.setitem(L.ENGINES, "toy", missing)
    err = one_line(capsys, *base)
    assert "toy is not installed" in err and "apt-get install no-such-pkg" in err
    assert not os.path.exists(out)
    assert capsys.readouterr().out == ""


def test_another_agent_or_a_tournament_in_out_is_refused(tmp_path, capsys):
    out = str(tmp_path / "l")
    climb(out, levels="1")
    before = open(os.path.join(out, "games.jsonl")).read()
    err = one_line(capsys, "--agent", "random", "--engine", "toy", "--levels", "1", "--games", "4", "--out", out)
    assert "holds the ladder of agent=greedy, not agent=random" in err
    assert open(os.path.join(out, "games.jsonl")).read() == before
    tour = str(tmp_path / "t")
    assert main(["tournament", "--player", "random", "--player", "greedy", "--set", "size=4", "--set", "games=2",
                 "--set", "workers=0", "--out", tour]) == 0
    capsys.readouterr()
    assert "holds a tournament, not a ladder" in one_line(capsys, "--agent", "greedy", "--engine", "toy", "--out", tour)


def test_random_stops_at_gtp_rhino_level_1_and_resumes(tmp_path):
    need(RHINO, "gtp-rhino", "grhino")
    out = str(tmp_path / "rhino")
    argv = [sys.executable, "-m", "arena.cli", "ladder", "--agent", "random", "--engine", "gtp-rhino",
            "--levels", "1-2", "--games", "2", "--workers", "0", "--out", out]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.load(open(os.path.join(out, "ladder.json")))
    assert s["game"] == "othello" and s["size"] == 8 and s["engine"] == "gtp-rhino"
    assert [lv["player"] for lv in s["levels"]] == ["rhino1"] and s["stopped_at"] == 1 and s["not_played"] == [2]
    assert s["levels"][0]["games"] == 2 and s["levels"][0]["score"] < 0.25
    assert s["levels"][0]["spec"].startswith("gtp:") and s["levels"][0]["spec"].endswith("gtp-rhino -l 1")
    assert "| 1 | rhino1 | 2 |" in r.stdout and "stopped here" in r.stdout
    before = open(os.path.join(out, "games.jsonl")).read()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "level 1 (rhino1): 0 of 2 games to play" in r.stdout
    assert open(os.path.join(out, "games.jsonl")).read() == before
