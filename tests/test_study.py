"""``arena study``: the config's checks, checkpoint choice, and a tiny study end to end (every arm, the
measurements, the tournament and the report, in about two minutes), then its resume, refusal of another
config and ``--report-only``."""

import json
import os
import subprocess
import math
import sys

import numpy as np
import pytest
import torch

from agents.common import checkpoint
from agents.common import transcripts as T
from agents.common.config import load_config
from agents.seq.load import checkpoint_tokenizer, load_gpt
from arena.study.run import pick
from arena.study.config import ARMS, StudyConfig
from arena.study.report import to_html
from envs.game import Game

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The tiny variant: 6x6 (4x4 has too few distinct expert games to hold any out), 10 steps per arm (a count,
# so that a busy machine runs the same study; the 10-minute budgets are never reached), the finals alone
# in the tournament, the AlphaZero arms' self-play in their own process (no Ray instance to start per arm).
TINY = ["--set", "minutes=10", "--set", "max_steps=10", "--set", "random_games=3000", "--set", "expert_games=100",
        "--set", "expert_simulations=2", "--set", "checkpoints=1", "--set", "games=2", "--set", "az_sims=4",
        "--set", "eval_games=30", "--set", "anchors=random=random,greedy=greedy",
        "--set", "az_set=min_replay=200,games_in_flight=32,eval_every=10,eval_games=4,eval_simulations=4,"
                 "checkpoint_every=5,publish_every=5,anchors=greedy,inference=torch,workers=0",
        "--set", "pretrain_set=eval_every=10,eval_games=30,checkpoint_every=10,warmup_steps=5",
        "--set", "finetune_set=eval_every=5,eval_games=10,checkpoint_every=5,groups=2,group_size=4,eval_opponents=greedy"]
# The engine arms learn from our own GTP server playing greedy (always installed; the study's default
# engine, gtp-rhino, is exercised by the ladder's tests), two levels (seeds) in one round robin.
ENGINE = f"gtp:{sys.executable} -m arena.cli gtp --game othello --size 6 --agent greedy --seed {{level}}"
TINY += ["--set", "arms=" + ",".join(ARMS), "--set", f"engine={ENGINE}", "--set", "engine_levels=1-2",
         "--set", "engine_games=40", "--set", "workers=0"]  # engine games and tournament in-process: no Ray to start


def arena(*args):
    return subprocess.run([sys.executable, "-m", "arena.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)


def test_config_checks_and_budgets():
    cfg = load_config(StudyConfig, os.path.join(ROOT, "configs", "study_othello6.yaml"))
    # The quick 6x6 default has no engine arms (gtp-rhino plays 8x8 only); the 8x8 study has every arm.
    assert set(cfg.arms) == set(ARMS) - {"seq_engine", "rl_engine", "az_boot"}
    # Equal compute: AlphaZero, pretraining + RL and RL alone each get the arm budget.
    assert cfg.arm_minutes("az") == cfg.arm_minutes("rl_scratch") == cfg.arm_minutes("az_boot") == cfg.minutes
    assert cfg.arm_minutes("seq_random") + cfg.arm_minutes("rl_random") == pytest.approx(cfg.minutes)
    assert cfg.arm_flops("az") == 0 and cfg.seed_runs() == (cfg.seed,)
    f = StudyConfig(budget="flops", flops=1e12, seeds=(0, 1, 2))
    assert f.arm_flops("az") == 1e12 and f.arm_flops("seq_engine") + f.arm_flops("rl_engine") == pytest.approx(1e12)
    assert f.seed_runs() == (0, 1, 2)
    for bad, match in (({"arms": ("rl_expert",)}, "starts from arm seq_expert"), ({"arms": ("zz",)}, "unknown arm"),
                       ({"games": 3}, "games must be even"), ({"game": "go"}, "othello"),
                       ({"pretrain_share": 1.0}, "pretrain_share"), ({"budget": "flops"}, "needs flops"),
                       ({"budget": "tokens"}, "budget must be"), ({"seeds": (1, 1)}, "seeds must differ"),
                       ({"parallel": "maybe"}, "parallel must be"), ({"arms": ("rl_engine",)}, "seq_engine"),
                       ({"arms": ("az_boot",), "engine": "gnugo"}, "engine must be gtp:"),
                       # each seed's study would rerun the same RL seeds, verbatim
                       ({"seeds": (0, 1), "rl_seeds": (0, 1)}, "seeds and rl_seeds together")):
        with pytest.raises(ValueError, match=match) as e:
            StudyConfig(**bad)
        assert "\n" not in str(e.value)
    big = load_config(StudyConfig, os.path.join(ROOT, "configs", "study_othello8.yaml"))
    assert set(big.arms) == set(ARMS) - {"seq_expert", "rl_expert"} and big.seed_runs() == (0, 1, 2)


def test_every_stage_waits_for_what_it_reads():
    """Run at once as Ray tasks, a stage starts once the stages it needs are done: every dataset before the
    arms that read it, every start before the arm that goes on from it, and nothing waits on a stage the
    plan leaves out."""
    from arena.study.run import Study

    study = Study(StudyConfig(arms=ARMS), "/nonexistent")
    plan = [name for name, _ in study.stages()]
    reads = {"seq_random": "data_random", "seq_random_permuted": "data_random_permuted", "seq_expert": "data_expert",
             "seq_engine": "data_engine", "az_boot": "data_engine", "data_expert": "az", "rl_random": "seq_random",
             "rl_random_permuted": "seq_random_permuted", "rl_expert": "seq_expert", "rl_engine": "seq_engine"}
    for name, need in reads.items():
        assert need in Study.needs(name), name
    for name in plan:  # the serial order runs every stage after what it needs
        assert all(plan.index(n) < plan.index(name) for n in Study.needs(name)), name
    assert Study.needs("az") == Study.needs("rl_scratch") == Study.needs("data_random") == []


def test_pick_spaces_checkpoints_in_wall_clock():
    rows = [{"seconds": s} for s in (5, 10, 20, 31, 39, 61, 90, 100)]
    assert [r["seconds"] for r in pick(rows, 3)] == [31, 61, 100]
    assert [r["seconds"] for r in pick(rows[:1], 3)] == [5]
    assert pick([], 3) == []


def test_html_keeps_tables_lists_and_code():
    page = to_html("# T\n\n- a `x` **b**\n\n| h | i |\n|---|---|\n| 1 | <2> |\n\n```\nx < y\n```", "t")
    assert "<h1>T</h1>" in page and "<li>a <code>x</code> <b>b</b></li>" in page
    assert "<th>h</th>" in page and "<td>&lt;2&gt;</td>" in page and "<pre>x &lt; y</pre>" in page


def elo_by_hand(tournament):
    """``{player: (elo, standard error)}`` of a tournament's ``ratings.json``, each checked against the
    maximum-likelihood equations written out here from its ``games.jsonl``: at the optimum every free
    rating's (and the first-mover term's) score residual is zero, and the standard errors are the root
    diagonal of the inverse Hessian (the prior's virtual draws, colour-neutral, included)."""
    rep = json.load(open(os.path.join(tournament, "ratings.json")))
    games = [json.loads(x) for x in open(os.path.join(tournament, "games.jsonl")) if x.strip()]
    elo = {r["player"]: r["elo"] for r in rep["rows"]}
    h, k = rep["first_mover"][0], math.log(10) / 400
    free = [p for p in elo if p != rep["anchor"]]
    met = sorted({tuple(sorted((g["black"], g["white"]))) for g in games})
    rows = [(g["black"], g["white"], g["result"], 1.0, 1.0) for g in games]
    rows += [(a, b, 0.5, rep["prior_draws"], 0.0) for a, b in met]
    x = np.zeros((len(rows), len(free) + 1))  # d(logit)/d(theta) per row: +1 black, -1 white, the h term
    score, weight, logit = np.zeros(len(rows)), np.zeros(len(rows)), np.zeros(len(rows))
    for i, (b, w, s, wt, first) in enumerate(rows):
        if b in free:
            x[i, free.index(b)] += 1
        if w in free:
            x[i, free.index(w)] -= 1
        x[i, -1] = first
        score[i], weight[i], logit[i] = s, wt, k * (elo[b] - elo[w] + first * h)
    p = 1 / (1 + np.exp(-logit))
    residual = x.T @ (weight * (score - p))  # in games' worth of score; zero at the optimum
    played = np.abs(x).T @ weight
    # The file rounds ratings to 0.1 Elo: a residual of at most ~0.1 Elo's worth per game played.
    assert (np.abs(residual) <= 0.1 * k * played + 1e-9).all(), dict(zip(free + ["first mover"], residual))
    cov = np.linalg.inv((x * (weight * p * (1 - p))[:, None]).T @ x) / k**2
    out = {rep["anchor"]: (elo[rep["anchor"]], 0.0)}
    for j, name in enumerate(free):
        out[name] = (elo[name], math.sqrt(cov[j, j]))
    return out


def replayed_boards(tok, row):
    """``[(cells int8[N*N], black to move next, legal actions)]`` after each prefix of ``row`` ending in BOS
    or a move, replayed with Game; an implied pass is played (the side to move next is one that can move)."""
    g, out = Game(tok.game, tok.size), []
    for t, i in enumerate(row):
        if t > 0:
            if i < 2:
                break
            g.play(int(tok.id_to_action[i]))
        if not g.terminal and g.legal_actions() == [tok.size ** 2]:
            g.play(tok.size ** 2)
        out.append((g.cells().reshape(-1), g.to_play == 0, [] if g.terminal else g.legal_actions()))
    return out


def measures_by_hand(out, arm):
    """``(legal-move error, probe majority baseline)`` of a sequence arm's final model on the study's
    held-out random games, worked out here with Game: the error is the share of prefixes with a legal
    move whose top-1 prediction is not one; the baseline scores each square's most common relative
    label (empty / mine / theirs) of the training four fifths of the games on the other fifth."""
    cfg = StudyConfig.from_dict(json.load(open(os.path.join(out, "study.json"))))
    model, ck = load_gpt(os.path.join(out, arm))
    tok = checkpoint_tokenizer(ck)
    data = T.Dataset(os.path.join(out, "data", "random"))
    games = [data.tokenizer.decode(r) for r in data.rows("val", cfg.eval_games)]
    rows = tok.encode_batch(*T.lists_to_batch(games)).astype(np.int64)  # the arm's own ids
    with torch.no_grad():
        top = model(torch.from_numpy(rows[:, :-1])).argmax(-1).numpy()
    wrong = scored = 0
    labels, game_of = [], []
    for b, row in enumerate(rows):
        for t, (cells, black_next, actions) in enumerate(replayed_boards(tok, row)):
            legal = {int(tok.action_to_id[a]) for a in actions}
            if legal and t < rows.shape[1] - 1:
                scored += 1
                wrong += int(top[b, t]) not in legal
            mine = 1 if black_next else -1
            labels.append(np.select([cells == 0, cells == mine], [0, 1], 2))
            game_of.append(b)
    y, test = np.array(labels), np.array(game_of) % 5 == 0
    majority = [np.bincount(y[~test, s], minlength=3).argmax() for s in range(y.shape[1])]
    return wrong / scored, float((y[test] == majority).mean())


def test_tiny_study_end_to_end_resume_and_report_only(tmp_path):
    out = str(tmp_path / "study")
    r = arena("study", "--config", "configs/study_othello6.yaml", *TINY, "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    stages = json.load(open(os.path.join(out, "stages.json")))
    assert {"az", "az_permuted", "data_expert", "rl_scratch", "measure", "tournament"} <= set(stages)
    assert stages["rl_random"]["command"][:2] == ["arena", "finetune"] and "--resume" in stages["rl_random"]["command"]
    summary = json.load(open(os.path.join(out, "summary.json")))
    inv = json.load(open(os.path.join(out, "inventory.json")))
    finals = [n for n, m in inv["players"].items() if m["final"]]
    assert set(finals) == set(ARMS) | {"az_nosearch", "az_permuted_nosearch", "az_boot_nosearch"}
    ratings = json.load(open(os.path.join(out, "tournament", "ratings.json")))
    assert {r["player"] for r in ratings["rows"]} == set(inv["players"]) | {"random", "greedy"}
    fit = elo_by_hand(os.path.join(out, "tournament"))
    for name in finals:
        s = summary[name]
        elo, se = fit[name]
        assert s["elo"] == elo and s["ci95"] == pytest.approx([elo - 1.96 * se, elo + 1.96 * se], abs=0.25)
        assert s["forward"] > 0 and s["flops"] > 0 and s["seconds"] > 0
    # An RL arm's compute includes its pretraining; the expert arm's includes the expert games.
    assert summary["rl_random"]["forward"] > summary["seq_random"]["forward"]
    assert summary["rl_random"]["reward_events"] > 0 == summary["seq_random"]["reward_events"]
    assert summary["seq_expert"]["seconds"] > inv["checkpoints"]["seq_expert"][-1]["seconds"]
    assert summary["az"]["reward_events"] > 0 and summary["az"]["forward"] > summary["az"]["reward_events"]
    measure = json.load(open(os.path.join(out, "measure.json")))
    assert set(measure) == {a for a in ARMS if not a.startswith("az")}
    for arm, m in measure.items():
        error, majority = measures_by_hand(out, arm)
        assert m["legal_error_random"] == pytest.approx(error, abs=1e-12)
        assert m["probe_relative_majority"] == pytest.approx(majority, abs=1e-12)
        probe = json.load(open(os.path.join(out, "probes", arm, "probe.json")))
        assert m["probe_relative"] == max(probe["results"]["linear/relative"])
    report = open(os.path.join(out, "report.md")).read()
    for text in ("## Final Elo at equal compute", "## Sample efficiency", "## The sequence models", "## Controls",
                 "## Discussion", "arena train --config configs/othello6_az.yaml", "permute_squares=1", "--permute 1"):
        assert text in report
    for f in ("report.html", "curves.png", "rl_curves.png", "feedback.png"):
        assert os.path.getsize(os.path.join(out, f)) > 1000
    # The engine arms: the engine's games made once, a GPT pretrained on them, AlphaZero bootstrapped on them.
    assert "gtp --game othello --size 6 --agent greedy" in " ".join(stages["data_engine"]["command"])
    assert "init_transcripts=" in " ".join(stages["az_boot"]["command"])
    assert "target=next_token" in " ".join(stages["seq_engine"]["command"])
    assert summary["seq_engine"]["seconds"] > inv["checkpoints"]["seq_engine"][-1]["seconds"]  # + the games
    feed = summary["feedback"]
    assert {feed[a]["target"] for a in ("seq_random", "rl_random", "az", "az_boot")} == {"next_token", "outcome",
                                                                                        "search"}
    assert feed["seq_random"]["reward_events"] == 0 and feed["rl_random"]["reward_events"] > 0
    # A pretraining target per token (log2 60 bits) is worth more per forward pass than one outcome per game.
    assert feed["seq_random"]["bits_per_forward"] > 10 * feed["rl_scratch"]["bits_per_forward"]
    assert feed["az_boot"]["target_bits"] > 0 and "## Bits of feedback" in report
    # The engine's games: deduplicated and split by game (no game twice, none on both sides of the split).
    engine = T.Dataset(os.path.join(out, "data", "engine"))
    train, val = ({r.tobytes() for r in engine.rows(k)} for k in ("train", "val"))
    c = engine.manifest["counts"]
    assert len(train) == c["train"] and len(val) == c["val"] > 0 and not train & val
    assert c["generated"] == c["train"] + c["val"] + c["duplicates"] and engine.results("train") is not None

    # A rerun finds every stage done and plays nothing again; an arm whose budget is spent is not rerun.
    del stages["rl_scratch"]
    json.dump(stages, open(os.path.join(out, "stages.json"), "w"))
    log = os.path.join(out, "logs", "rl_scratch.log")
    before = open(log).read()
    r = arena("study", "--config", "configs/study_othello6.yaml", *TINY, "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    assert open(log).read() == before
    assert "budget was already spent" in r.stdout
    assert "rl_scratch" in json.load(open(os.path.join(out, "stages.json")))

    # Another config is refused; --report-only rebuilds the same table from the logs.
    r = arena("study", "--config", "configs/study_othello6.yaml", *TINY, "--set", "seed=5", "--out", out)
    assert r.returncode == 2 and "another config" in r.stderr and "seed" in r.stderr
    os.remove(os.path.join(out, "report.md"))
    r = arena("study", "--report-only", out)
    assert r.returncode == 0, r.stderr
    assert json.load(open(os.path.join(out, "summary.json"))) == summary
    assert open(os.path.join(out, "report.md")).read().count("| **") == len(finals)


def test_study_command_line_errors(tmp_path):
    r = arena("study")
    assert r.returncode == 2 and "give --config" in r.stderr
    r = arena("study", "--report-only", str(tmp_path))
    assert r.returncode == 2 and "not a study directory" in r.stderr
    r = arena("study", "--config", "configs/study_othello6.yaml", "--set", "arms=rl_random", "--out", str(tmp_path))
    assert r.returncode == 2 and "starts from arm seq_random" in r.stderr


@pytest.mark.slow
def test_interrupted_study_resumes_an_arm_with_what_is_left_of_its_budget(tmp_path):
    """SIGTERM during AlphaZero's arm: the arm checkpoints, the study stops; the same command resumes the arm
    for the rest of its budget only, then finishes."""
    import signal
    import time

    out = str(tmp_path / "study")
    # The budget, not a step count, ends the arms here: what is tested is that a resume spends it once.
    arms = ["--set", "arms=az,seq_random,rl_random", "--set", "minutes=0.5", "--set", "max_steps=0",
            "--set", "checkpoints=2"]
    proc = subprocess.Popen([sys.executable, "-m", "arena.cli", "study", "--config", "configs/study_othello6.yaml",
                             *TINY, *arms, "--out", out], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    ckdir = os.path.join(out, "az", "checkpoints")
    deadline = time.time() + 300
    while time.time() < deadline and not (os.path.isdir(ckdir) and len(os.listdir(ckdir)) >= 2):
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "rerun the same command" in err
    assert "az" not in json.load(open(os.path.join(out, "stages.json")))
    r = arena("study", "--config", "configs/study_othello6.yaml", *TINY, *arms, "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resumed from" in open(os.path.join(out, "logs", "az.log")).read()
    newest = sorted(os.listdir(ckdir))[-1]
    spent = checkpoint.load(os.path.join(ckdir, newest))["compute"]["seconds"]
    assert 0.5 * 60 - 5 <= spent <= 0.5 * 60 + 15  # the budget once, not twice


def test_sample_efficiency_averages_three_evaluations():
    from arena.study.report import first_reaching

    pts = [(0, 0.3), (10, 0.7), (20, 0.4), (30, 0.6), (40, 0.65), (50, 0.7), (60, 0.2)]
    assert first_reaching(pts, 0.6) == 40  # the lucky 0.7 at 10 games alone does not count
    assert first_reaching(pts, 0.9) is None
    assert first_reaching([(0, 0.8)], 0.6) == 0
    assert first_reaching([(0, 0.71), (640, 0.66), (1280, 0.7)], 0.6) == 0  # a start already past the target


def fake_seed(out, seed, elos, se=20.0):
    """A seed's study as the report across seeds reads it: its ratings (independent errors of ``se``), the
    tournament's player order and a summary."""
    d = os.path.join(out, f"seed_{seed}")
    os.makedirs(os.path.join(d, "tournament"))
    names = list(elos)
    rows = [{"player": p, "elo": e, "ci95_low": e - 1.96 * se, "ci95_high": e + 1.96 * se} for p, e in elos.items()]
    cov = [[se * se if i == j else 0.0 for j in names] for i in names]
    json.dump({"rows": rows, "cov": cov, "anchor": "random", "games": 100}, open(os.path.join(d, "tournament",
                                                                                            "ratings.json"), "w"))
    json.dump({"players": [f"{p}=x" for p in names]}, open(os.path.join(d, "tournament", "tournament.json"), "w"))
    feed = {"target": "outcome", "reward_events": 10, "forward": 1000, "forward_per_event": 100.0,
            "target_bits": 15.8, "bits_per_forward": 0.0158}
    summary = {p: {"elo": e, "ci95": [e - 40, e + 40], "seconds": 60.0, "flops": 1e9, "reward_events": 10}
               for p, e in elos.items() if p != "random"}
    summary["feedback"] = {"rl_random": feed, "rl_scratch": feed}
    json.dump(summary, open(os.path.join(d, "summary.json"), "w"))
    json.dump({"seq_random": {"legal_error_random": 0.30 + 0.01 * seed, "probe_relative": 0.80}},
              open(os.path.join(d, "measure.json"), "w"))


def test_report_across_seeds_separates_what_survives_the_seed_spread(tmp_path):
    """Three seeds: RL over pretraining is large in every seed (survives); pretraining + RL over RL alone is
    large in each seed's tournament but flips sign between seeds (does not survive)."""
    from arena.study.seeds import survives, write_seed_report

    out = str(tmp_path / "s")
    os.makedirs(out)
    json.dump({**json.loads(json.dumps(StudyConfig(arms=("seq_random", "rl_random", "rl_scratch"),
                                                   seeds=(0, 1, 2)).__dict__))},
              open(os.path.join(out, "study.json"), "w"))
    for seed, (rl, scratch) in enumerate(((400, 250), (420, 560), (390, 300))):
        fake_seed(out, seed, {"random": 0, "seq_random": 10 * seed, "rl_random": rl, "rl_scratch": scratch})
    summary = write_seed_report(out, log=lambda *a: None)
    assert summary["seeds"] == [0, 1, 2]
    p = summary["players"]["rl_random"]
    assert p["per_seed"] == {"0": 400, "1": 420, "2": 390} and p["elo_mean"] == pytest.approx(403.33, abs=0.01)
    assert p["elo_sd"] == pytest.approx(15.275, abs=0.01)
    by = {(v["a"], v["b"]): v for v in summary["comparisons"]}
    gain = by[("rl_random", "seq_random")]
    assert gain["survives"] and gain["tournament_significant"] == 3 and gain["per_seed"] == [400, 410, 370]
    mixed = by[("rl_random", "rl_scratch")]
    assert not mixed["survives"] and mixed["tournament_significant"] == 3  # each tournament is sure, the seeds disagree
    report = open(os.path.join(out, "report.md")).read()
    yes, no = report.split("**Does not survive the seed spread**")
    assert "RL's gain over random-transcript pretraining" in yes.split("**Survives the seed spread:**")[1]
    assert "Pretraining on random transcripts, then RL, against RL alone" in no
    assert "## Bits of feedback" in report and "[seed 2](seed_2/report.md)" in report
    assert summary["feedback"]["rl_random"]["bits_per_forward"] == pytest.approx(0.0158)
    err = summary["sequence_models"]["seq_random"]["legal_error_random"]
    assert err["mean"] == pytest.approx(0.31) and err["sd"] == pytest.approx(0.01)
    assert "## The sequence models across seeds" in report and "31.0% ± 1.0" in report
    # The test itself: same sign and a mean outside t(0.975, n-1) * sd / sqrt(n).
    assert survives([100, 110, 90]) and not survives([100, -10, 90]) and not survives([100])
    assert not survives([10, 200, 15])  # one sign, but the spread swamps the mean (t = 4.30 for 3 seeds)


@pytest.mark.slow
def test_two_seeds_at_a_flop_budget_run_at_once_as_ray_tasks(tmp_path):
    """Two seeds of a two-arm study under a FLOP budget, the stages as Ray tasks on this machine: each seed
    has its own directory, datasets and tournament; every arm stops at its FLOPs; the report across seeds
    is written, and --report-only rebuilds it."""
    out = str(tmp_path / "study")
    two = ["--set", "arms=seq_random,rl_random", "--set", "seeds=0,1", "--set", "budget=flops",
           "--set", "flops=4e10", "--set", "max_steps=0", "--set", "parallel=ray", "--set", "threads=1"]
    r = arena("study", "--config", "configs/study_othello6.yaml", *TINY, *two, "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "run at once as Ray tasks" in r.stdout
    for seed in (0, 1):
        d = os.path.join(out, f"seed_{seed}")
        assert json.load(open(os.path.join(d, "study.json")))["seed"] == seed
        for arm, share in (("seq_random", 0.5), ("rl_random", 0.5)):
            ck = checkpoint.load(checkpoint.latest(os.path.join(d, arm)))
            assert ck["compute"]["flops"] >= share * 4e10  # stopped by the FLOP budget, not the 10 minutes
            assert ck["compute"]["seconds"] < 5 * 60
        assert os.path.exists(os.path.join(d, "report.md"))
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["seeds"] == [0, 1] and {"rl_random", "seq_random"} <= set(summary["players"])
    assert len(summary["players"]["rl_random"]["per_seed"]) == 2
    os.remove(os.path.join(out, "report.md"))
    r = arena("study", "--report-only", out)
    assert r.returncode == 0, r.stderr
    assert "## Comparisons" in open(os.path.join(out, "report.md")).read()


# -- the scale study: staged budgets, RL seeds, given inputs, ladders, verdicts --------------------------------

SCALE = os.path.join(ROOT, "configs", "study_othello8_scale.yaml")


def tiny_gpt_file(path, seconds=60.0, flops=1.5e9):
    """A saved 6x6 tiny GPT as ``arena pretrain`` writes one (random weights; its compute is made up)."""
    from dataclasses import asdict

    from agents.common.tokenizer import Tokenizer
    from agents.seq.gpt import GPT, GPTConfig
    from agents.seq.pretrain import PretrainConfig

    tok = Tokenizer("othello", 6)
    torch.manual_seed(0)
    model = GPT(GPTConfig.preset("tiny", tok.vocab_size, tok.max_len))
    compute = checkpoint.compute_record(seconds=seconds, reward_events=0, games=0, positions=0, trained=1000,
                                        trained_unit="tokens", forward_passes=1000, flops=int(flops))
    checkpoint.write(str(path), step=7, kind="gpt", trainer="pretrain", config=asdict(PretrainConfig(preset="tiny")),
                     model=model.cfg.to_dict(), weights=model.state_dict(), optimizer={},
                     rng=checkpoint.rng_state(np.random.default_rng(0)), compute=compute,
                     meta={"tokenizer": tok.describe(), "games_read": 0})
    return str(path)


def fake_az_run(path, seconds, size=6):
    """An ``arena train`` run directory holding only checkpoint records at ``seconds`` (FLOPs 1e9 a second)."""
    for i, s in enumerate(seconds):
        compute = checkpoint.compute_record(seconds=float(s), reward_events=0, games=0, positions=0, trained=0,
                                            trained_unit="positions", forward_passes=0, flops=int(1e9 * s))
        checkpoint.save(str(path), 100 * (i + 1), kind="alphazero", trainer="train",
                        config={"game": "othello", "size": size}, model={}, weights={}, optimizer={},
                        rng=checkpoint.rng_state(np.random.default_rng(0)), compute=compute)
    return str(path)


def test_scale_config_keys_are_checked_in_one_line(tmp_path):
    from arena.study.inputs import check_inputs

    scale = {"arms": ("seq_pretrained", "rl_pretrained", "rl_scratch"), "pretrained": "models/othello8_gpt_2h.pt",
             "size": 8, "pretrain_minutes": 123.5, "rl_minutes": 45}
    StudyConfig(**scale)  # valid
    for bad, match in (({"arms": ("rl_pretrained", "zz")}, "unknown arm.*zz.*seq_pretrained"),
                       ({"arms": ("rl_pretrained",)}, "starts from arm seq_pretrained"),
                       ({"pretrained": ""}, "seq_pretrained needs pretrained"),
                       ({"rl_seeds": (0, 1, 0)}, r"rl_seeds must differ, got \[0, 1, 0\]"),
                       ({"rl_minutes": 0}, "both pretrain_minutes and rl_minutes"),
                       ({"pretrain_minutes": 0, "rl_minutes": 0, "arms": ("rl_scratch", "rl_scratch_total")},
                        "rl_scratch_total needs staged budgets"),
                       ({"arms": ("rl_scratch_total",)}, "rl_scratch's run carried on"),
                       ({"variants": ("rl_x=rl_random kl_coef=1",)}, "not an RL arm of arms"),
                       ({"variants": ("rl_x_s1=rl_pretrained kl_coef=1",)}, "name must start with rl_"),
                       ({"variants": ("rl_x=rl_pretrained",)}, "give its finetune overrides"),
                       ({"ladder_games": 0}, "ladder_games")):
        with pytest.raises(ValueError, match=match) as e:
            StudyConfig(**{**scale, **bad})
        assert "\n" not in str(e.value)
    # What a file or a directory must hold is checked when the study starts, each in one line.
    for bad, match in (({"pretrained": str(tmp_path / "none.pt")}, "pretrained: no checkpoint at"),
                       ({"size": 6}, "is a GPT of othello 8x8, not of the study's othello 6x6"),
                       ({"arms": ("az",), "az_run": str(tmp_path / "nowhere")}, "az_run .* does not exist"),
                       ({"arms": ("az",), "az_run": str(tmp_path)}, "has no checkpoints"),
                       ({"arms": ("seq_engine",), "engine_data": str(tmp_path)}, "engine_data: .* make it first"),
                       ({"ladder": "chess"}, "ladder: unknown engine 'chess'"),
                       ({"arms": ("rl_scratch",), "variants": ("rl_x=rl_scratch kl_coeff=1",)},
                        "variant rl_x: --set: unknown key 'kl_coeff'")):
        with pytest.raises(ValueError, match=match) as e:
            check_inputs(StudyConfig(**{**scale, **bad}), log=lambda *a: None)
        assert "\n" not in str(e.value)


def test_scale_budgets_seeds_and_the_shared_pretraining():
    """The preset: R for every RL arm (RL from scratch too), P for pretraining, P + R for AlphaZero's arms;
    each RL arm once per RL seed from one pretraining; the pretraining and AlphaZero stages once."""
    from arena.study.inputs import check_inputs
    from arena.study.run import Study

    cfg = load_config(StudyConfig, SCALE)
    P, R = cfg.pretrain_minutes, cfg.rl_minutes
    assert (P, R) == (123.5, 45.0) and R >= 45 and cfg.rl_seeds == (0, 1)
    assert cfg.pretrained == "models/othello8_gpt_2h.pt" and cfg.engine_data and cfg.ladder == "gtp-rhino"
    for arm in ("rl_pretrained", "rl_engine", "rl_scratch"):
        assert cfg.arm_minutes(arm) == R
    assert cfg.arm_minutes("seq_engine") == P
    assert cfg.arm_minutes("az") == cfg.arm_minutes("az_boot") == cfg.arm_minutes("rl_scratch_total") == P + R
    f = StudyConfig(**{**{k: getattr(cfg, k) for k in ("arms", "pretrained", "pretrain_minutes", "rl_minutes")},
                       "budget": "flops", "flops": 3.37e15})
    assert f.arm_flops("rl_pretrained") == pytest.approx(3.37e15 * R / (P + R)) and f.arm_flops("az") == 3.37e15
    study = Study(cfg, "/out")
    plan = dict(study.stages())
    assert "data_engine" not in plan and study.data["engine"] == cfg.engine_data  # made beforehand
    assert not [n for n in plan if n.startswith("seq_")]  # both GPTs are files, seq_engine's pretrained for P
    assert cfg.engine_pretrained == "models/othello8_gpt_rhino.pt" and cfg.rate_as_trained
    assert {n for n, k in plan.items() if k == "finetune"} == {f"{a}_s{s}" for a in (
        "rl_pretrained", "rl_engine", "rl_scratch") for s in (0, 1)}  # no stage longer than R: RL at P + R is out
    assert "az_boot" not in plan and cfg.az_boot_net == "models/othello8_boot.pt"  # made beforehand, as the
    own = Study(StudyConfig(**{**cfg.__dict__, "az_boot_net": ""}), "/out").command("az_boot", "az")  # study would
    for item in ("init_epochs=1.5", "minutes=168.500", "seed=0", "keep_checkpoints=0",
                 "init_transcripts=datasets/othello8_rhino20k"):
        assert item in own
    cfg = StudyConfig(**{**cfg.__dict__, "arms": (*cfg.arms, "rl_scratch_total")})  # the view, where a machine lasts
    study = Study(cfg, "/out")
    for s in (0, 1):
        cmd = study.command(f"rl_engine_s{s}", "finetune")
        assert cmd[cmd.index("--init") + 1] == cfg.engine_pretrained and f"seed={s}" in cmd and "minutes=45.000" in cmd
        cmd = study.command(f"rl_pretrained_s{s}", "finetune")
        assert cmd[cmd.index("--init") + 1] == "models/othello8_gpt_2h.pt"
        # rl_scratch's run in two stages: to R (rated there as rl_scratch), then resumed to P + R
        assert "minutes=45.000" in study.command(f"rl_scratch_s{s}", "finetune")
        assert "minutes=168.500" in study.command(f"rl_scratch_total_s{s}", "finetune")
        assert study.run_dir(f"rl_scratch_total_s{s}") == f"/out/rl_scratch_s{s}"
        assert study.stage_needs(f"rl_engine_s{s}") == ["seq_engine"]
    assert "minutes=123.500" in study.command("seq_engine", "pretrain")
    assert "minutes=168.500" in study.command("az", "az") and "minutes=168.500" in study.command("az_boot", "az")
    # One config line adds a variant: its arm's start, budget and seeds, and its own overrides.
    v = Study(StudyConfig(**{**cfg.__dict__, "variants": ("rl_pretrained_kl=rl_pretrained kl_coef=0.2",)}), "/out")
    cmd = v.command("rl_pretrained_kl_s1", "finetune")
    assert "kl_coef=0.2" in cmd and "seed=1" in cmd and cmd[cmd.index("--init") + 1] == "models/othello8_gpt_2h.pt"
    assert cmd.index("kl_coef=0.2") > cmd.index("checkpoint_every=20")  # after finetune_set: it wins
    m = Study(StudyConfig(**{**cfg.__dict__, "variants": (
        "rl_pretrained_mix=rl_pretrained mix_data=$OUT/data/random mix_coef=0.5",)}), "/out")
    assert "mix_data=/out/data/random" in m.command("rl_pretrained_mix_s0", "finetune")  # the study's own games
    wm = load_config(StudyConfig, "configs/study_othello8_worldmodel.yaml")  # its variants' overrides are valid
    check_inputs(StudyConfig(**{**wm.__dict__, "ladder": ""}), log=lambda *a: None)  # gtp-rhino may be absent
    assert sorted(n for n, k in Study(wm, "/wm").stages() if k == "finetune") == [
        "rl_pretrained_kl_s0", "rl_pretrained_legal_s0", "rl_pretrained_mix_s0", "rl_pretrained_s0"]
    # az from a run made elsewhere: no stage trains it.
    a = Study(StudyConfig(**{**cfg.__dict__, "az_run": "/runs/az", "az_boot_net": ""}), "/out")
    assert "az" not in dict(a.stages()) and "az_boot" in dict(a.stages()) and a.run_dir("az") == "/runs/az"


def test_az_run_checkpoint_nearest_to_the_budget_pinned_at_the_first_start(tmp_path):
    from arena.study.inputs import az_pin, az_rows, check_inputs
    from arena.study.measure import run_rows
    from arena.study.run import Study

    run = fake_az_run(tmp_path / "az", [300, 1135, 1921, 2396, 3125])
    base = {"size": 6, "arms": ("az",), "az_run": run, "pretrain_minutes": 20.0, "rl_minutes": 20.0}
    cfg = StudyConfig(**base)
    logs = []
    pin = check_inputs(cfg, log=logs.append)  # 40 min = 2,400 s: the 2,396 s checkpoint, pinned now
    assert pin == {"run": run, "path": os.path.join(run, "checkpoints", "step_00000400.pt"), "step": 400,
                   "seconds": 2396.0, "flops": int(2396e9)}
    assert any("step_00000400.pt" in x and "pinned now" in x for x in logs)
    assert [r["seconds"] for r in az_rows(cfg, pin)] == [300, 1135, 1921, 2396]
    flops = StudyConfig(**{**base, "budget": "flops", "flops": 1.2e12})  # 1.2e12 FLOPs: at most 1,200 s
    assert az_pin(flops)["seconds"] == 1135
    # A run not yet past the budget could still write a nearer checkpoint: refused, saying by how much.
    with pytest.raises(ValueError, match=r"newest checkpoint is 7.9 min short of az's budget of 60 min.*resume that "
                                         r"run \(arena train --resume") as e:
        check_inputs(StudyConfig(**{**base, "rl_minutes": 40.0}), log=lambda *a: None)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"no checkpoint within az's budget of 4 min \(its first is at 5.0 min\)"):
        check_inputs(StudyConfig(**{**base, "pretrain_minutes": 2.0, "rl_minutes": 2.0}), log=lambda *a: None)
    with pytest.raises(ValueError, match="trained othello 6x6, not the study's othello 8x8"):
        check_inputs(StudyConfig(**{**base, "size": 8}), log=lambda *a: None)
    # Once pinned (stages.json), az stays that checkpoint: one the run writes later nearer to the budget is not taken.
    out = str(tmp_path / "study")
    os.makedirs(out)
    json.dump({"az_run": pin}, open(os.path.join(out, "stages.json"), "w"))
    fake_az_run(tmp_path / "az2", [2399])
    os.replace(checkpoint.latest(str(tmp_path / "az2")), os.path.join(run, "checkpoints", "step_00000450.pt"))
    study = Study(cfg, out)
    assert study.az_pin() == pin and run_rows(study, study.runs["az"])[-1]["path"] == pin["path"]
    assert check_inputs(cfg, log=logs.append, pinned=pin) == pin and "pinned at the study's first start" in logs[-1]
    os.remove(pin["path"])  # pruned by the run: refused in one line, not silently another checkpoint
    with pytest.raises(ValueError, match="step_00000400.pt, pinned at the study's first start, is gone"):
        check_inputs(cfg, log=lambda *a: None, pinned=pin)
    # One checkpoint file (a net under models/) is final as it is: taken when within the budget, though short of it.
    one = os.path.join(run, "checkpoints", "step_00000200.pt")  # 1,135 s
    filed = StudyConfig(**{**base, "az_run": one})
    got = check_inputs(filed, log=logs.append)
    assert got == {"run": one, "path": one, "step": 200, "seconds": 1135.0, "flops": int(1135e9)}
    assert [r["path"] for r in az_rows(filed, got)] == [one]
    assert "az" not in dict(Study(filed, str(tmp_path / "s2")).stages())
    with pytest.raises(ValueError, match=r"no checkpoint within az's budget of 16 min \(its first is at 18.9 min\)"):
        check_inputs(StudyConfig(**{**base, "az_run": one, "pretrain_minutes": 8.0, "rl_minutes": 8.0}),
                     log=lambda *a: None)


def fake_gpt_run(run_dir, rows, trainer="finetune"):
    """A GPT run directory holding checkpoint records only: ``(step, seconds, minutes)`` each, ``minutes`` being
    the budget of the stage that wrote it (its config's)."""
    for step, seconds, minutes in rows:
        compute = checkpoint.compute_record(seconds=float(seconds), reward_events=step, games=step, positions=0,
                                            trained=step, trained_unit="tokens", forward_passes=step, flops=step)
        checkpoint.save(str(run_dir), step, kind="gpt", trainer=trainer, config={"minutes": minutes,
                                                                                 "steps": 100_000_000,
                                                                                 "max_steps": 100_000},
                        model={}, weights={}, optimizer={}, rng=checkpoint.rng_state(np.random.default_rng(0)),
                        compute=compute)


def test_rl_scratch_runs_to_R_then_its_run_is_carried_on_to_P_plus_R(tmp_path):
    """rl_scratch's stage ends at R with a save (a step past R: the budget is checked between steps); it is
    rated there, not at the checkpoint before it. rl_scratch_total's stage resumes the same directory, the same
    command but for its budget, to P + R. A variant of rl_scratch runs to R only."""
    from dataclasses import replace

    from arena.study.measure import run_rows, runs_info
    from arena.study.run import Study

    cfg = load_config(StudyConfig, SCALE, ["arms=seq_pretrained,rl_pretrained,rl_scratch,rl_scratch_total",
                                           "engine_pretrained=", "az_boot_net="])
    study = Study(cfg, str(tmp_path))
    plan = [n for n, _ in study.stages()]
    for s in (0, 1):
        a, b = f"rl_scratch_s{s}", f"rl_scratch_total_s{s}"
        assert plan.index(a) < plan.index(b) and study.stage_needs(b) == [a]
        assert (study.stage_minutes(a), study.stage_minutes(b)) == (45.0, 168.5)
        ca, cb = study.command(a, "finetune"), study.command(b, "finetune")
        assert ca[ca.index("--run-dir") + 1] == cb[cb.index("--run-dir") + 1] == os.path.join(str(tmp_path), a)
        assert [x for x in ca if not x.startswith("minutes=")] == [x for x in cb if not x.startswith("minutes=")]
    d = os.path.join(str(tmp_path), "rl_scratch_s0")
    fake_gpt_run(d, [(20, 1190, 45.0), (40, 2390, 45.0), (43, 2705, 45.0)])  # stage 1: its end a step past R
    assert study.left_minutes("rl_scratch_s0") <= 0  # spent
    assert study.left_minutes("rl_scratch_total_s0") == pytest.approx(168.5 - 2705 / 60)
    fake_gpt_run(d, [(60, 3600, 168.5), (63, 10112, 168.5)])  # stage 2, resumed
    rows = {n: [r["step"] for r in run_rows(study, study.runs[n])] for n in ("rl_scratch_s0", "rl_scratch_total_s0")}
    assert rows == {"rl_scratch_s0": [20, 40, 43], "rl_scratch_total_s0": [20, 40, 43, 60, 63]}
    info = runs_info(study)
    assert info["rl_scratch_s0"]["capped"] and not info["rl_scratch_total_s0"]["capped"]
    # A variant of rl_scratch is an RL arm at R: its own run, not carried on.
    v = Study(replace(cfg, variants=("rl_scratch_legal=rl_scratch legal_coef=0.5",)), str(tmp_path))
    assert v.stage_minutes("rl_scratch_legal_s0") == 45.0 and not v.carried_on("rl_scratch_legal_s0")
    assert "minutes=45.000" in v.command("rl_scratch_legal_s0", "finetune")
    assert not any(n.startswith("rl_scratch_legal_total") for n, _ in v.stages())


def test_seq_engine_is_rated_and_started_from_at_its_best_validation_loss(tmp_path):
    """seq_engine sees its games many times over in P: its player and rl_engine's start are the checkpoint with
    the lowest validation loss its run recorded (a step evaluated twice by a resume counts once)."""
    from arena.study.measure import best_checkpoint, run_rows
    from arena.study.report import chosen_md
    from arena.study.run import Study

    study = Study(load_config(StudyConfig, SCALE, ["engine_pretrained="]), str(tmp_path))  # trained here
    d = os.path.join(str(tmp_path), "seq_engine")
    assert best_checkpoint(d) is None and study.start_path("seq_engine") == d  # nothing yet: the directory
    fake_gpt_run(d, [(k, 60.0 * k / 1000, 123.5) for k in (1000, 2000, 3000, 4000, 5000)], trainer="pretrain")
    assert best_checkpoint(d) is None  # no validation loss recorded: the newest, as before
    losses = {0: 4.0, 1000: 2.0, 2000: 1.5, 3000: 1.2, 4000: 1.25, 5000: 1.3, 4500: 0.9}  # 4500: no checkpoint
    with open(os.path.join(d, "metrics.jsonl"), "w") as f:
        for step, loss in [*losses.items(), (3000, 1.2)]:
            f.write(json.dumps({"step": step, "val_loss": loss, "legal_error": 0.1}) + "\n")
    best = best_checkpoint(d)
    assert (best["step"], best["val_loss"], best["candidates"], best["last_step"]) == (3000, 1.2, 5, 5000)
    assert [r["step"] for r in run_rows(study, study.runs["seq_engine"])] == [1000, 2000, 3000]
    cmd = study.command("rl_engine_s1", "finetune")
    assert cmd[cmd.index("--init") + 1] == best["path"] == os.path.join(d, "checkpoints", "step_00003000.pt")
    line = chosen_md({"seq_engine": {**best, "seconds": 180.0, "last_seconds": 300.0}})[0]
    assert "step 3000" in line and "1.2000" in line and "of its 5 evaluated checkpoints" in line
    # arena export --best ships that checkpoint (a GPT given to a study as engine_pretrained is made so).
    from argparse import Namespace

    from arena.commands.checkpoints import cmd_export

    cmd_export(Namespace(ckpt=d, out=str(tmp_path / "best.pt"), command=None, best=True))
    assert checkpoint.load(str(tmp_path / "best.pt"))["step"] == 3000
    with pytest.raises(ValueError, match="--best: .* is no run directory with a checkpoint at a step"):
        cmd_export(Namespace(ckpt=str(tmp_path / "best.pt"), out=str(tmp_path / "b2.pt"), command=None, best=True))


def test_pretrained_compute_far_from_P_is_warned_of():
    from arena.study.inputs import pretrained_off_budget

    cfg = load_config(StudyConfig, SCALE)
    assert not pretrained_off_budget(cfg, 7410) and not pretrained_off_budget(cfg, 7410 * 1.04)
    assert pretrained_off_budget(cfg, 7410 * 1.06) and pretrained_off_budget(cfg, 60.0)


def test_engine_data_short_or_from_another_engine_is_refused(tmp_path):
    """An engine dataset written by a stopped arena transcripts, or by another engine or levels, is refused in
    one line that says how to complete or match it."""
    from agents.common.tokenizer import Tokenizer
    from arena.study.inputs import check_inputs

    acts, lens = next(T.random_source("othello", 6, 200, 5))
    engine = str(tmp_path / "engine")
    made = {"engine_games": 150, "forfeits": 2, "players": ["engine1=gtp:e -l 1", "engine2=gtp:e -l 2"]}
    T.write_dataset(engine, Tokenizer("othello", 6), iter([(acts, lens, np.full(200, 0.5))]), "gtp:e -l {level}", 3,
                    0.1, progress=False, compute=made)
    base = {"size": 6, "arms": ("seq_engine", "az_boot"), "engine": "gtp:e -l {level}", "engine_levels": "1-2",
            "engine_data": engine, "engine_games": 152}
    check_inputs(StudyConfig(**base), log=lambda *a: None)  # 150 games and 2 forfeits: all that was asked for
    for bad, match in (({"engine_games": 200}, r"holds 152 of the 200 engine games .* complete it with: rm "
                        + engine + r"/manifest.json && arena transcripts --game othello --size 6 --source "
                        r"'gtp:e -l \{level\}' --levels 1-2 --games 200 .*--seed 3 --val-fraction 0.1 --out " + engine),
                       ({"engine_levels": "1-3"}, r"holds games of 'gtp:e -l \{level\}' \(engine1=.*not of the "
                                                  r"study's engine .* at levels 1-3"),
                       ({"engine": "gtp:f -l {level}"}, "not of the study's engine 'gtp:f")):
        with pytest.raises(ValueError, match=match) as e:
            check_inputs(StudyConfig(**{**base, **bad}), log=lambda *a: None)
        assert "\n" not in str(e.value)


def test_resume_refuses_changed_trainer_configs_and_inputs(tmp_path):
    """study.json records what the config only names: the trainer configs as loaded (not their budget or seed)
    and fingerprints of the given GPT and engine dataset. A resume after any of them changed is refused in one
    line naming it; a budget change in a trainer config is not a change."""
    import yaml

    from agents.common.tokenizer import Tokenizer
    from arena.study.inputs import resolved
    from arena.study.run import check_config

    ft = tmp_path / "ft.yaml"
    ft_cfg = yaml.safe_load(open(os.path.join(ROOT, "configs", "seq_rl_demo6.yaml")))
    ft.write_text(yaml.safe_dump(ft_cfg))
    gpt = tiny_gpt_file(tmp_path / "gpt.pt")
    data = str(tmp_path / "engine")
    T.write_dataset(data, Tokenizer("othello", 6), T.random_source("othello", 6, 100, 1), "gtp:x", 0, 0.1,
                    progress=False)
    cfg = StudyConfig(arms=("seq_pretrained", "rl_pretrained", "seq_engine"), pretrained=gpt, engine_data=data,
                      engine="gtp:x", finetune_config=str(ft))
    out = str(tmp_path / "study")
    os.makedirs(out)
    check_config(cfg, out, resolved(cfg))
    saved = json.load(open(os.path.join(out, "study.json")))
    assert StudyConfig.from_dict(saved) == cfg and set(saved["resolved"]) == {"pretrain_config", "finetune_config",
                                                                             "pretrained", "engine_data"}
    assert saved["resolved"]["finetune_config"]["config"]["lr"] == 3e-4
    assert not {"minutes", "steps", "seed"} & set(saved["resolved"]["finetune_config"]["config"])
    ft.write_text(yaml.safe_dump({**ft_cfg, "minutes": 9, "steps": 5, "seed": 4}))  # the study sets these
    check_config(cfg, out, resolved(cfg))
    changes = ((lambda: ft.write_text(yaml.safe_dump({**ft_cfg, "lr": 0.001})),
                r"finetune_config .*ft.yaml \(lr 0.0003 then, 0.001 now\)"),
               (lambda: tiny_gpt_file(tmp_path / "gpt.pt", seconds=61.0),
                r"pretrained .*gpt.pt \(its contents changed"),
               (lambda: json.dump({**json.load(open(os.path.join(data, "manifest.json"))), "seed": 9},
                                  open(os.path.join(data, "manifest.json"), "w")), r"engine_data .* contents changed"))
    for change, match in changes:  # each named, beside those before it
        change()
        with pytest.raises(ValueError, match=r"was started with other inputs than these: (.*; )?" + match) as e:
            check_config(cfg, out, resolved(cfg))
        assert "\n" not in str(e.value)


def test_survives_at_two_seeds_is_a_t_test_held_back_by_the_tournament_error(tmp_path):
    """At two RL seeds the t-test alone passes any two close differences (t = 12.71 on one degree of freedom).
    Against an arm that runs once, that arm's rating error is in both differences: it cancels from their spread,
    not from their mean, so the mean must also clear the tournament's 95% interval from the fit's covariance."""
    from arena.study.scale import verdicts, verdicts_md
    from arena.study.shared import Ratings
    from arena.study.stats import survives

    def t_test(d):  # by hand: t = |mean| / (sd / sqrt 2), sd = |d1 - d2| / sqrt 2, against 12.706
        m, sd = (d[0] + d[1]) / 2, abs(d[0] - d[1]) / math.sqrt(2)
        return (d[0] > 0) == (d[1] > 0) and abs(m) / (sd / math.sqrt(2)) > 12.706

    for d, want in (([20, 21], True), ([60, 62], True), ([300, 220], False), ([20, -21], False), ([-50, -49], True)):
        assert survives(d) == t_test(d) == want, d
    assert not survives([20]) and not survives([20, 21], se_mean=15.0)  # 1.96 * 15 = 29.4 > 20.5
    assert survives([60, 62], se_mean=30.0) and not survives([60, 62], se_mean=32.0)  # 58.8 < 61 < 62.7

    # One tournament: rl_pretrained at seeds 0 and 1 (se 20 each) against seq_pretrained, which runs once (se 40).
    d = tmp_path / "tournament"
    d.mkdir()
    names, elo = ["random", "rl_pretrained_s0", "rl_pretrained_s1", "seq_pretrained"], [0.0, 100.0, 102.0, 40.0]
    cov = [[0, 0, 0, 0], [0, 400, 50, 300], [0, 50, 400, 300], [0, 300, 300, 1600]]
    json.dump({"rows": [{"player": p, "elo": e, "ci95_low": e - 50, "ci95_high": e + 50} for p, e in zip(names, elo)],
               "cov": cov, "anchor": "random", "games": 100}, open(d / "ratings.json", "w"))
    json.dump({"players": [f"{p}=x" for p in names]}, open(d / "tournament.json", "w"))
    cfg = StudyConfig(arms=("seq_pretrained", "rl_pretrained"), pretrained="x.pt", rl_seeds=(0, 1))
    runs = {f"rl_pretrained_s{k}": {"arm": "rl_pretrained", "label": "rl_pretrained", "seed": k} for k in (0, 1)}
    runs["seq_pretrained"] = {"arm": "seq_pretrained", "label": "seq_pretrained", "seed": 0}
    (v,) = verdicts(cfg, Ratings(str(tmp_path)), runs)
    # The mean difference is w'elo with w = (1/2, 1/2, -1) over (s0, s1, seq): its variance w'Cw, by hand.
    var = 0.25 * 400 + 0.25 * 400 + 1600 + 2 * (0.25 * 50 - 0.5 * 300 - 0.5 * 300)
    assert v["per_seed"] == [60.0, 62.0] and v["se_mean"] == pytest.approx(math.sqrt(var)) == 35.0
    assert survives(v["per_seed"]) and v["survives"] is False  # the spread passes it; 1.96 * 35 = 68.6 > 61 does not
    assert v["tournament_significant"] == 0  # each: 1.96 * sqrt(400 + 1600 - 600) = 73.3 > 62
    md = "\n".join(verdicts_md(cfg, [v], []))
    assert "+61 ± 69" in md and "tournament's own 95% interval" in md and "| no |" in md


def test_tiny_scale_study_end_to_end(tmp_path, monkeypatch):
    """A scale-like study on 6x6 with step-count budgets: RL from a saved GPT and from scratch with two RL seeds,
    a GPT pretrained once on engine data given as a path, the rl_scratch_total view, measurements along RL, one
    tournament, a ladder per final player (a toy engine: MCTS with L rollouts) and the verdicts; then the report
    rebuilt from the logs alone."""
    from agents.common.tokenizer import Tokenizer
    from arena import ladder as L
    from arena.study.run import rebuild_report, run_study

    monkeypatch.setitem(L.ENGINES, "toy", L.Engine("toy", "m", None, "-", "mcts:rollouts={level}", "othello", 6, (6,),
                                                   tuple(range(1, 100)), "1-2", 2))
    monkeypatch.chdir(ROOT)
    gpt = tiny_gpt_file(tmp_path / "gpt.pt")
    engine = str(tmp_path / "engine")
    acts, lens = next(T.random_source("othello", 6, 300, 5))  # a stand-in for engine games, with results
    T.write_dataset(engine, Tokenizer("othello", 6), iter([(acts, lens, np.random.default_rng(0).choice(
        [0, 0.5, 1], 300))]), "gtp:fake", 5, 0.1, progress=False)
    sets = ["arms=seq_pretrained,rl_pretrained,seq_engine,rl_scratch,rl_scratch_total", "rl_seeds=0,1",
            f"pretrained={gpt}", f"engine_data={engine}", "engine=gtp:fake", "pretrain_minutes=5", "rl_minutes=5",
            "max_steps=3",
            "random_games=2000", "checkpoints=2", "games=2", "eval_games=30", "anchors=random=random,greedy=greedy",
            "workers=0", "measure_along=true", "ladder=toy", "ladder_levels=1-2", "ladder_games=2",
            "pretrain_set=eval_every=3,eval_games=20,checkpoint_every=1,warmup_steps=1",
            "finetune_set=eval_every=3,eval_games=4,checkpoint_every=1,groups=2,group_size=2,eval_opponents=greedy"]
    cfg = load_config(StudyConfig, os.path.join(ROOT, "configs", "study_othello6.yaml"), sets)
    out = str(tmp_path / "study")
    summary = run_study(cfg, out, log=lambda *a, **k: None)
    stages = json.load(open(os.path.join(out, "stages.json")))
    assert "data_engine" not in stages and "seq_pretrained" not in stages and "seq_engine" in stages
    for s in (0, 1):
        cmd = stages[f"rl_pretrained_s{s}"]["command"]
        assert cmd[cmd.index("--init") + 1] == gpt and f"seed={s}" in cmd
    assert engine in " ".join(stages["seq_engine"]["command"])
    inv = json.load(open(os.path.join(out, "inventory.json")))
    assert inv["checkpoints"]["seq_pretrained"][0]["seconds"] == 60.0  # the file's own compute, not re-run
    # Compute stands on the start: RL from the saved GPT includes its 60 s and 1.5 GFLOPs.
    assert summary["rl_pretrained_s0"]["seconds"] > 60 and summary["rl_pretrained_s0"]["flops"] > 1.5e9
    assert summary["rl_scratch_s0"]["seconds"] < 60
    measure = json.load(open(os.path.join(out, "measure.json")))
    assert {"legal_error_random", "legal_error_engine", "probe_relative"} <= set(measure["seq_pretrained"])
    assert [a["step"] for a in measure["rl_pretrained_s1"]["along"]][1:] == [3]  # 2 rated checkpoints, the last
    sc = summary["scale"]
    assert set(sc["ladders"]) == {"seq_pretrained", "seq_engine"} | {f"{a}_s{s}" for a in (
        "rl_pretrained", "rl_scratch", "rl_scratch_total") for s in (0, 1)}
    by = {(v["a"], v["b"]): v for v in sc["verdicts"]}
    v = by[("rl_pretrained", "rl_scratch")]
    assert len(v["per_seed"]) == 2 and v["players"] == [["rl_pretrained_s0", "rl_scratch_s0"],
                                                        ["rl_pretrained_s1", "rl_scratch_s1"]]
    # Two games a pair cannot tell these tiny models apart (the tournament's error of a mean difference is tens of
    # Elo) and the two seeds disagree: no paired verdict survives.
    assert v["se_mean"] > 30 and v["survives"] is False and ("rl_pretrained", "seq_pretrained") in by
    assert not any(x["survives"] for x in sc["verdicts"])
    assert stages["rl_scratch_total_s0"]["budget_minutes"] == 10.0  # the carried-on stage, to P + R
    assert len(sc["reach"]) == 2 and sc["curves"]["rl_pretrained_s0"][0][:2] == [0.0, 0.0]  # from its start
    report = open(os.path.join(out, "report.md")).read()
    for text in ("## Ladders", "## Compute before and during RL", "## The world model along RL", "## Verdicts",
                 "### What the data does not settle", "staged: pretraining P = 5 min", "RL seeds 0, 1",
                 "- `seq_engine` is its checkpoint at step 3", "tournament's own 95% interval"):
        assert text in report, text
    for f in ("rl_compute.png", "verdicts.png", "world_model.png"):
        assert os.path.getsize(os.path.join(out, f)) > 1000
    written = json.load(open(os.path.join(out, "summary.json")))
    os.remove(os.path.join(out, "report.md"))
    rebuild_report(out)
    assert json.load(open(os.path.join(out, "summary.json"))) == written
    assert "## Verdicts" in open(os.path.join(out, "report.md")).read()


def test_rated_as_trained_goes_on_from_a_copy_without_checkpoints_or_data(tmp_path, monkeypatch):
    """rate_as_trained: each run is measured and rated against the anchors right after its stage, so a copy of
    the study's directory without any checkpoint or dataset (another machine) goes on: it makes the data again,
    trains only what is left, and one rating fit covers the runs rated here and there. The engine GPT is given
    as a file (engine_pretrained), like the random one."""
    import shutil

    from agents.common.tokenizer import Tokenizer
    from arena import ladder as L
    from arena.study.run import rebuild_report, run_study

    monkeypatch.setitem(L.ENGINES, "toy", L.Engine("toy", "m", None, "-", "mcts:rollouts={level}", "othello", 6, (6,),
                                                   tuple(range(1, 100)), "1-2", 2))
    monkeypatch.chdir(ROOT)
    gpt, egpt = tiny_gpt_file(tmp_path / "gpt.pt"), tiny_gpt_file(tmp_path / "egpt.pt", seconds=61.0)
    engine = str(tmp_path / "engine")
    acts, lens = next(T.random_source("othello", 6, 300, 5))
    T.write_dataset(engine, Tokenizer("othello", 6), iter([(acts, lens, np.random.default_rng(0).choice(
        [0, 0.5, 1], 300))]), "gtp:fake", 5, 0.1, progress=False)
    sets = ["arms=seq_pretrained,rl_pretrained,seq_engine,rl_engine", f"pretrained={gpt}",
            f"engine_pretrained={egpt}", f"engine_data={engine}", "engine=gtp:fake", "pretrain_minutes=5",
            "rl_minutes=5", "max_steps=3", "random_games=2000", "checkpoints=2", "games=2", "eval_games=30",
            "anchors=random=random,greedy=greedy,mcts8=mcts:rollouts=8", "workers=0",
            "ladder=toy", "ladder_levels=1-2", "ladder_games=2", "rate_as_trained=true",
            "finetune_set=eval_every=3,eval_games=4,checkpoint_every=1,groups=2,group_size=2,eval_opponents=greedy"]
    cfg = load_config(StudyConfig, os.path.join(ROOT, "configs", "study_othello6.yaml"), sets)
    with pytest.raises(ValueError, match="engine_pretrained is arm seq_engine's: add seq_engine to arms"):
        StudyConfig(**{**cfg.__dict__, "arms": ("seq_pretrained", "rl_pretrained")})
    out, moved = str(tmp_path / "study"), str(tmp_path / "elsewhere")
    first = run_study(cfg, out, log=lambda *a, **k: None)
    stages = json.load(open(os.path.join(out, "stages.json")))
    assert "seq_engine" not in stages and {f"rate:{n}" for n in ("anchors", "seq_pretrained", "seq_engine",
                                                                 "rl_engine", "rl_pretrained")} <= set(stages)
    cmd = stages["rl_engine"]["command"]
    assert cmd[cmd.index("--init") + 1] == egpt
    inv = json.load(open(os.path.join(out, "inventory.json")))
    assert inv["checkpoints"]["seq_engine"][0]["seconds"] == 61.0
    games = [json.loads(x) for x in open(os.path.join(out, "tournament", "games.jsonl"))]
    # Runs meet the anchors (and their own checkpoints), never another run's players.
    run_of = {n: m["run"] for n, m in inv["players"].items()}
    assert games and all(run_of.get(g["black"]) is None or run_of.get(g["white"]) is None
                         or run_of[g["black"]] == run_of[g["white"]] for g in games)
    assert sum(g["black"] in ("random", "greedy", "mcts8") and g["white"] in ("random", "greedy", "mcts8")
               for g in games) == 3 * 2  # the anchors' round robin, once
    assert set(first["scale"]["ladders"]) == {"seq_pretrained", "seq_engine", "rl_pretrained", "rl_engine"}
    assert "played as each run was trained" in open(os.path.join(out, "report.md")).read()
    # Another machine: the directory without checkpoints or datasets, rl_engine not trained yet.
    shutil.copytree(out, moved, ignore=shutil.ignore_patterns("checkpoints", "data", "probes"))
    for d in ("rl_engine", os.path.join("rated", "rl_engine"), os.path.join("ladder", "rl_engine")):
        shutil.rmtree(os.path.join(moved, d))
    state = json.load(open(os.path.join(moved, "stages.json")))
    for key in ("rl_engine", "rate:rl_engine"):
        del state[key]
    del state["ladder"]["rl_engine"]
    json.dump(state, open(os.path.join(moved, "stages.json"), "w"))
    again = run_study(cfg, moved, log=lambda *a, **k: None)
    state = json.load(open(os.path.join(moved, "stages.json")))
    assert os.path.exists(os.path.join(moved, "data", "random", "manifest.json"))  # made again
    assert not os.path.exists(os.path.join(moved, "rl_pretrained", "checkpoints"))  # not trained again
    assert os.path.isdir(os.path.join(moved, "rl_engine", "checkpoints")) and "rate:rl_engine" in state
    assert set(again) == set(first) and again["rl_pretrained"]["elo"] is not None
    for n in ("rl_pretrained", "seq_pretrained", "seq_engine"):  # the same games, rated there
        assert open(os.path.join(moved, "rated", n, "tournament", "games.jsonl")).read() == \
            open(os.path.join(out, "rated", n, "tournament", "games.jsonl")).read()
    # The report is rebuilt from small files alone.
    os.remove(os.path.join(moved, "report.md"))
    shutil.rmtree(os.path.join(moved, "rl_engine", "checkpoints"))
    rebuild_report(moved)
    assert "## Verdicts" in open(os.path.join(moved, "report.md")).read()
    # A run whose start was trained on a machine that is gone is refused in one line, saying what to do.
    from arena.study.run import Stages, Study

    bare = Study(StudyConfig(**{**cfg.__dict__, "engine_pretrained": ""}), str(tmp_path / "bare"))
    with pytest.raises(ValueError, match="rl_engine starts from seq_engine, which has no checkpoint.*engine_pretrained"):
        Stages(bare).start("rl_engine", "finetune")


def test_az_boot_given_as_a_net_file_whose_warm_starts_add_up(tmp_path):
    """az_boot_net: az_boot read from a net trained beforehand (a run that outlives one machine goes on by warm
    starts; the file's compute counts the nets it went on from), checked at start, never trained here."""
    from arena.study.inputs import check_inputs, resolved
    from arena.study.measure import run_rows
    from arena.study.run import Study

    first = checkpoint.load(fake_az_run(tmp_path / "part1", [5400.0]))  # 90 min, then 78.5 more from it
    compute = checkpoint.compute_record(seconds=4710.0, reward_events=0, games=0, positions=0, trained=0,
                                        trained_unit="positions", forward_passes=0, flops=1)
    net = str(tmp_path / "az_boot.pt")
    checkpoint.write(net, step=50, kind="alphazero", trainer="train", config={"game": "othello", "size": 8},
                     model={}, weights={}, optimizer={}, rng=checkpoint.rng_state(np.random.default_rng(0)),
                     compute=compute, meta={"init": {"path": first["path"], "step": first["step"], "meta": {},
                                                     "compute": checkpoint.total_compute(first)}})
    cfg = load_config(StudyConfig, SCALE, [f"az_boot_net={net}", "engine_pretrained=", "ladder="])
    study = Study(cfg, str(tmp_path / "out"))
    assert "az_boot" not in dict(study.stages()) and study.run_dir("az_boot") == net and not study.trains("az_boot")
    assert [r["seconds"] for r in run_rows(study, study.runs["az_boot"])] == [5400.0 + 4710.0]
    logs = []
    check_inputs(StudyConfig(**{**cfg.__dict__, "az_run": ""}), log=logs.append)
    line = next(x for x in logs if "az_boot_net" in x)
    assert "168.5 min of training" in line and "zero-knowledge" in line and not any("warning: az_boot" in x for x in logs)
    assert resolved(cfg)["az_boot_net"]["path"] == net  # fingerprinted: a changed file is refused on resume
    with pytest.raises(ValueError, match="az_boot_net .* is a net of othello 6x6, not of the study's othello 8x8"):
        check_inputs(StudyConfig(**{**cfg.__dict__, "az_run": "", "az_boot_net": fake_az_run(tmp_path / "six", [1.0])
                                    + "/checkpoints/step_00000100.pt"}), log=lambda *a: None)
    with pytest.raises(ValueError, match="az_boot_net is arm az_boot's: add az_boot to arms"):
        StudyConfig(**{**cfg.__dict__, "arms": ("seq_pretrained", "rl_pretrained")})


def test_a_stage_log_holds_a_progress_bar_once_a_minute_not_every_redraw(tmp_path, monkeypatch):
    from arena.study.child import run_child

    monkeypatch.delenv("TQDM_MININTERVAL", raising=False)
    bar = ("import time; from tqdm import tqdm\n"
           "for _ in tqdm(range(40), unit='step'):\n"
           "    time.sleep(0.02)\n")
    log = tmp_path / "stage.log"
    run_child([sys.executable, "-c", bar], str(log), "stage")
    draws = open(log).read().replace("\r", "\n").count("step/s")
    assert 1 <= draws <= 3, draws  # the first draw and the last; a bar on a terminal draws about 8 here
