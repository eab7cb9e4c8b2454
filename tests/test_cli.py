"""The command line, run as a user runs it (a real subprocess)."""

import json
import subprocess
import sys


def arena(*args):
    return subprocess.run([sys.executable, "-m", "arena.cli", *args], capture_output=True, text=True, timeout=600)


def test_help():
    r = arena("--help")
    assert r.returncode == 0 and "perft" in r.stdout and "bench" in r.stdout
    assert arena("perft", "--help").returncode == 0
    assert "moves/s" in arena("bench", "env", "--help").stdout
    for cmd in (["train"], ["eval"], ["bench", "mcts"], ["bench", "selfplay"], ["bench", "tournament"]):
        r = arena(*cmd, "--help")
        assert r.returncode == 0 and "usage: arena" in r.stdout, r.stderr


def test_every_subcommand_has_help():
    """Every subcommand, nested ones included, formats its help (argparse fails on a stray %)."""
    import argparse

    from arena.cli import build_parser

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield path + [name], sub
                    yield from walk(sub, path + [name])

    seen = []
    for path, sub in walk(build_parser(), []):
        text = sub.format_help()
        assert text.startswith("usage: arena " + " ".join(path)) and sub.description, path
        seen.append(" ".join(path))
    for cmd in ("tournament", "gtp", "play", "view", "ratings", "transcripts", "pretrain", "probe", "finetune"):
        assert cmd in seen


def test_perft_prints_json():
    r = arena("perft", "othello", "--depth", "6")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert r.returncode == 0 and [x["size"] for x in lines] == [8, 6]
    assert lines[0]["nodes"] == 8200


def test_bad_input_is_one_line():
    r = arena("perft", "othello", "--depth", "-3")
    assert r.returncode == 2 and r.stderr.strip().startswith("arena: error:") and "Traceback" not in r.stderr


def test_bench_env_quick():
    r = arena("bench", "env", "--seconds", "0.2", "--batch", "64", "--perft-depth", "5")
    out = json.loads(r.stdout)
    assert r.returncode == 0
    for key in ("othello8", "go9"):
        assert out[key]["ours_moves_per_s"] > 0 and out[key]["ratio_vs_reference"] > 0


def test_bench_mcts_quick():
    r = arena("bench", "mcts", "--seconds", "0.05", "--batches", "1,4", "--simulations", "8", "--no-net")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("othello8", "go9"):
        assert set(out[key]["uniform"]) == {"B1", "B4"} and min(out[key]["rollouts"].values()) > 0
        assert out[key]["python_puct_uniform"] > 0 and out[key]["ratio_rollouts_vs_python_puct"] > 0


def test_bench_selfplay_quick():
    r = arena("bench", "selfplay", "--seconds", "0.3", "--size", "6", "--games-in-flight", "8",
              "--simulations", "4", "--backends", "torch,onnx", "--workers", "0")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for name in ("torch", "onnx"):
        row = out["backends"][name]
        assert row["positions_per_s"] > 0 and 0 < row["network_fraction"] <= 1 and row["agrees"]
    assert out["backends"]["torch"]["top1_agreement"] == 1.0 and out["auto"]["choice"] in ("torch", "onnx", "onnx-int8")
    assert out["sequential_one_leaf_per_call"]["positions_per_s"] > 0


def test_bench_play_quick():
    r = arena("bench", "play", "--agent", "az:othello8,sims=16", "--seconds", "0.2", "--moves", "3",
              "--backends", "torch,onnx", "--leaves", "1,4")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out["backends"]) == {"torch", "onnx"} and out["simulations"] == 16
    rows = [x for b in out["backends"].values() for x in b["by_leaves"].values()]
    assert sorted(x["leaves_per_call"] for x in rows) == [1, 1, 4, 4]
    for row in rows:
        assert row["agrees"] and row["moves"] >= 3
        # whole searches of 16 simulations: the rate is 16 simulations a move over the moves' time
        assert abs(row["sims_per_s"] - 16 * 1000 / row["ms_per_move"]) <= 0.01 * row["sims_per_s"] + 1
    assert out["one_leaf_torch"]["sims_per_s"] == out["backends"]["torch"]["by_leaves"]["1"]["sims_per_s"]
    best = max(rows, key=lambda x: x["sims_per_s"])
    assert (out["best"]["sims_per_s"], out["best"]["leaves_per_call"]) == (best["sims_per_s"], best["leaves_per_call"])


def test_bench_play_takes_a_shipped_nets_game_from_its_name():
    r = arena("bench", "play", "--agent", "az:go9_boot,sims=4", "--seconds", "0.1", "--moves", "1",
              "--backends", "torch", "--leaves", "1")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["game"], out["size"]) == ("go", 9) and out["backends"]["torch"]["agrees"]


def test_bench_checkpoint_quick():
    r = arena("bench", "checkpoint", "--seconds", "0.05")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("alphazero_b6c64_8x8", "gpt_small_8x8"):
        assert out[key]["bytes"] > 0 and out[key]["ours_loads_per_s"] > 0


def test_bench_tournament_quick():
    r = arena("bench", "tournament", "--games", "4", "--batch-games", "2", "--seconds", "1", "--sims", "2",
              "--workers", "1", "--inference", "torch")  # the same backend: one batched run, not two
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["batched"] == out["batched_same_inference"] and out["batched"]["games"] == 4
    assert 1 <= out["one_game_per_task"]["games"] <= 4 and out["setup"]["inference"] == "torch"
    assert out["batched"]["games_per_hour"] > 0 and out["ratio_batched_over_one_game_per_task"] > 0


def test_bench_mcts_bad_batches_is_one_line():
    r = arena("bench", "mcts", "--batches", "a,b")
    assert r.returncode == 2 and r.stderr.strip().startswith("arena: error:") and "Traceback" not in r.stderr


def test_help_texts_show_percent_signs_once():
    from arena.cli import build_parser

    text = build_parser()._subparsers._group_actions[0].choices["eval"].format_help()
    assert "95%" in text and "95%%" not in text


def test_a_bad_board_size_leaves_no_run_directory(tmp_path):
    for cmd in (["train", "--config", "configs/othello6_az.yaml"], ["finetune", "--init", "none"]):
        run = tmp_path / cmd[0]
        r = arena(*cmd, "--set", "size=7", "--run-dir", str(run))
        assert r.returncode == 2 and r.stderr.strip().startswith("arena: error:") and "size" in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1 and not run.exists()


def test_eval_prints_a_table_or_json(tmp_path):
    import numpy as np
    import torch

    from agents.alphazero.config import TrainConfig
    from agents.alphazero.network import new_net
    from agents.alphazero.train import save_checkpoint

    cfg = TrainConfig(game="othello", size=4, network="b4c64")
    net = new_net(cfg)
    save_checkpoint(str(tmp_path), net, torch.optim.SGD(net.parameters(), lr=0.1), 1, cfg, np.random.default_rng(0))
    common = ["eval", "--ckpt", str(tmp_path), "--against", "random,greedy", "--games", "4", "--simulations", "2"]
    table = arena(*common)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert "step 1, othello 4x4" in lines[0] and lines[2].startswith("| opponent (4 games")
    assert [x.split("|")[1].strip() for x in lines[4:6]] == ["random", "greedy"]
    out = json.loads(arena(*common, "--json").stdout)
    assert out["step"] == 1 and out["random"]["wins"] + out["random"]["draws"] + out["random"]["losses"] == 4
    assert f"| random | {out['random']['wins']} | {out['random']['draws']} |" in table.stdout  # same seed, same games
