"""The ``arena`` command line. Subcommands print JSON or text and exit non-zero with one clear line on
bad input (never a traceback).

Each command imports what it runs inside its own function: ``arena --help`` or ``arena perft`` then
starts in a fraction of a second instead of paying for torch, Ray and Numba's caches up front."""

import argparse
import json
import os
import sys
import time

# agents.alphazero.inference.CHOICES, restated so that parsing the command line never imports torch
INFERENCE = ("torch", "compile", "bf16", "onnx", "onnx-int8", "auto")


def cmd_perft(args):
    from envs.core import make_batch

    if args.depth < 0 or args.depth > 20:
        raise ValueError(f"--depth must be between 0 and 20, got {args.depth}")
    sizes = [args.size] if args.size else [8, 6]
    for size in sizes:
        b = make_batch("othello", 1, size)
        b.perft(1)  # compile outside the timing
        t = time.perf_counter()
        nodes = b.perft(args.depth)
        dt = time.perf_counter() - t
        print(json.dumps({"game": "othello", "size": size, "depth": args.depth, "nodes": nodes,
                          "convention": "forced pass uses a ply; a game that ends early is one leaf",
                          "seconds": round(dt, 3), "leaves_per_s": round(nodes / dt) if dt > 0 else None}))


def cmd_bench_env(args):
    from benchmarks.env_throughput import main as bench_main

    bench_main(["--seconds", str(args.seconds), "--batch", str(args.batch), "--perft-depth", str(args.perft_depth)])


def cmd_bench_mcts(args):
    from benchmarks.mcts_throughput import main as bench_main

    argv = ["--seconds", str(args.seconds), "--batches", args.batches, "--simulations", str(args.simulations)]
    bench_main(argv + ["--backends", args.backends] + (["--no-net"] if args.no_net else []))


def cmd_bench_selfplay(args):
    from benchmarks.selfplay_throughput import main as bench_main

    bench_main(["--seconds", str(args.seconds), "--game", args.game, "--size", str(args.size),
                "--games-in-flight", str(args.games_in_flight), "--simulations", str(args.simulations),
                "--backends", args.backends, "--workers", args.workers, "--device", args.device]
               + (["--ckpt", args.ckpt] if args.ckpt else []))


def cmd_bench_checkpoint(args):
    from benchmarks.checkpoint_load import main as bench_main

    bench_main(["--seconds", str(args.seconds)])


def cmd_bench_tournament(args):
    from benchmarks.tournament_throughput import main as bench_main

    bench_main(["--games", str(args.games), "--seconds", str(args.seconds), "--batch-games", str(args.batch_games),
                "--sims", str(args.sims), "--workers", str(args.workers), "--inference", args.inference,
                "--baseline-inference", args.baseline_inference] + (["--ckpt", args.ckpt] if args.ckpt else []))


def cmd_eval(args):
    from agents.alphazero.evaluate import evaluate

    if args.games < 2:
        raise ValueError("--games must be at least 2")
    against = [a.strip() for a in args.against.split(",") if a.strip()]
    out = evaluate(args.ckpt, against, args.games, args.simulations, args.seed, args.inference, args.device)
    if args.json:
        print(json.dumps(out))
        return
    inf = out["inference"]
    print(f"{out['checkpoint']} (step {out['step']}, {out['game']} {out['size']}x{out['size']}, "
          f"{out['simulations']} simulations, Gumbel search without noise; inference {inf['backend']} on "
          f"{inf['device']}, top-1 agreement with fp32 {inf['top1_agreement']:.1%}, value MAE {inf['value_mae']:.4f})\n")
    print(f"| opponent ({args.games} games, colours alternating) | wins | draws | losses | score | 95% interval |")
    print("| --- | --- | --- | --- | --- | --- |")
    for spec in against:
        r = out[spec]
        print(f"| {spec} | {r['wins']} | {r['draws']} | {r['losses']} | {100 * r['score']:.1f}% | "
              f"{100 * r['ci95'][0]:.1f}-{100 * r['ci95'][1]:.1f}% |")


def run_dir_of(args, fallback):
    """``--run-dir``, or ``runs/NAME`` after the config file's name."""
    name = os.path.splitext(os.path.basename(args.config))[0] if args.config else fallback
    return args.run_dir or os.path.join("runs", name)


def refuse_unresumed(run_dir, resume):
    """A run directory with checkpoints is continued only when asked (checked before anything is written)."""
    from agents.common.checkpoint import latest

    if latest(run_dir) and not resume:
        raise ValueError(f"{run_dir} already has checkpoints: add --resume to continue it, or choose --run-dir")


def cmd_train(args):
    from agents.alphazero.config import TrainConfig
    from agents.alphazero.train import train
    from agents.common.config import load_config

    sets = list(args.set or []) + ([f"init_transcripts={args.init_transcripts}"] if args.init_transcripts else [])
    cfg = load_config(TrainConfig, args.config, sets)
    if cfg.init_transcripts:
        from agents.common.transcripts import Dataset

        Dataset(cfg.init_transcripts)  # a wrong path fails now, in one line, before anything starts
    run_dir = run_dir_of(args, "default")
    refuse_unresumed(run_dir, args.resume)
    train(cfg, run_dir, address=args.address, resume=args.resume)


def cmd_gtp(args):
    from arena.gtp_server import GTPServer
    from arena.specs import make_agent

    size = args.size or (9 if args.game == "go" else 8)
    make_agent(args.agent, args.game, size, args.komi)  # a bad spec fails here, in one line, before any GTP
    GTPServer(args.agent, args.game, size, args.komi, args.seed).serve()


def cmd_tournament(args):
    from agents.common.config import load_config
    from arena.tournament import run_tournament
    from arena.tournament_config import TournamentConfig

    sets = list(args.set or [])
    if args.player:
        sets = [s for s in sets if not s.startswith("players=")]
    # The players before the checks, which hold the anchor and focus to them.
    cfg = load_config(TournamentConfig, args.config, sets, **({"players": tuple(args.player)} if args.player else {}))
    name = os.path.splitext(os.path.basename(args.config))[0] if args.config else "tournament"
    run_tournament(cfg, args.out or os.path.join("runs", name), address=args.address)


def cmd_ladder(args):
    from arena.ladder import LadderConfig, run_ladder

    cfg = LadderConfig(agent=args.agent, engine=args.engine, levels=args.levels or "", games=args.games,
                       size=args.size or 0, openings=args.openings, stop_below=args.stop_below,
                       workers=args.workers, seed=args.seed)
    run_ladder(cfg, args.out or os.path.join("runs", f"ladder_{cfg.eng().prefix}"), address=args.address)


def cmd_ratings(args):
    from arena.report import write_outputs
    from arena.results import read_games
    from arena.tournament_config import TournamentConfig

    cfg = TournamentConfig.from_results(args.dir)
    games = [g for g in read_games(args.dir) if g["black"] in cfg.roster() and g["white"] in cfg.roster()]
    write_outputs(cfg, args.dir, games, None)


def cmd_view(args):
    from arena.viewer import view

    print(view(args.dir))


def cmd_play(args):
    from arena.human import play_terminal

    size = args.size or (9 if args.game == "go" else 8)
    play_terminal(args.game, size, args.agent, args.color, args.komi, args.seed)


def cmd_transcripts(args):
    from agents.alphazero.selfplay import selfplay_games
    from agents.common import transcripts as T
    from agents.common.tokenizer import Tokenizer
    from arena.results import tournament_games

    size = args.size or (8 if args.game == "othello" else 9)
    if args.games < 1 or args.simulations < 1:
        raise ValueError("--games and --simulations must be at least 1")
    if not 0 < args.val_fraction < 1:
        raise ValueError("--val-fraction must be between 0 and 1")
    tok = Tokenizer(args.game, size) if args.permute is None else Tokenizer.permuted(args.game, size, args.permute)
    kind, _, arg = args.source.partition(":")
    total, compute = None, {}
    if kind == "random":
        batches, total = T.random_source(args.game, size, args.games, args.seed), args.games
    elif kind == "selfplay" and arg:
        games = selfplay_games(arg, args.game, size, args.games, args.seed, args.simulations, compute=compute)
        batches, total = map(T.lists_to_batch, games), args.games
    elif kind == "gtp" and arg:
        from arena.engine_games import engine_games, engine_tournament

        tcfg = engine_tournament(arg, args.game, size, args.games, args.levels or "", args.opening_plies,
                                 args.workers, seed=args.seed)
        batches = engine_games(tcfg, os.path.join(args.out, "games"), address=args.address, compute=compute)
    elif kind == "tournament" and arg:
        batches = tournament_games(arg, args.game, size)
    elif kind == "wthor" and arg:
        if (args.game, size) != ("othello", 8):
            raise ValueError("WTHOR files hold 8x8 Othello games")
        batches = T.wthor_source([p for p in arg.split(",") if p])
    else:
        raise ValueError(f"unknown --source {args.source!r}; use random, selfplay:RUN, gtp:COMMAND, tournament:DIR "
                         f"or wthor:FILE[,FILE...]")
    if args.levels and kind != "gtp":
        raise ValueError("--levels applies to --source gtp:COMMAND only")
    m = T.write_dataset(args.out, tok, batches, args.source, args.seed, args.val_fraction, total=total,
                        compute=compute)
    print(json.dumps({"out": args.out, **m["counts"], "tokenizer": m["tokenizer"]}))


def cmd_pretrain(args):
    from agents.common.config import load_config
    from agents.seq.pretrain import PretrainConfig, pretrain

    cfg = load_config(PretrainConfig, args.config, args.set or [])
    run_dir = run_dir_of(args, "pretrain")
    refuse_unresumed(run_dir, args.resume)
    pretrain(cfg, run_dir, resume=args.resume)


def cmd_probe(args):
    from agents.common.checkpoint import resolve
    from agents.seq.probe import probe

    if args.games < 10:
        raise ValueError("--games must be at least 10")
    out = args.out or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(resolve(args.ckpt)))), "probe")
    rep = probe(args.ckpt, args.games, out, epochs=args.epochs, seed=args.seed)
    print(json.dumps({k: v for k, v in rep.items() if k != "results"} | {"results": {
        k: [round(a, 4) for a in v] for k, v in rep["results"].items()}, "out": out}))


def cmd_seq_eval(args):
    from agents.seq.evaluate import seq_eval
    from arena.specs import seq_spec

    path, _ = seq_spec(args.agent)
    if args.threads < 0:
        raise ValueError("--threads must be 0 (torch's default) or more")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = seq_eval(path, args.games, args.seed, mlp=args.mlp,
                   log=lambda s: print(s, file=sys.stderr, flush=True))
    print(json.dumps({"agent": args.agent, **out}))


def cmd_finetune(args):
    from agents.common.config import load_config
    from agents.seq.finetune import FinetuneConfig, finetune
    from arena.specs import opponent_factory

    cfg = load_config(FinetuneConfig, args.config, args.set or [])
    run_dir = run_dir_of(args, "finetune")
    refuse_unresumed(run_dir, args.resume)
    finetune(cfg, args.init, run_dir, resume=args.resume, make_opponent=opponent_factory())


def cmd_export(args):
    from agents.alphazero.train import origin
    from agents.common import checkpoint

    if os.path.exists(args.out):
        raise ValueError(f"{args.out} exists; choose another path or remove it")
    ck = checkpoint.load(args.ckpt)
    cfg = ck["config"]
    if ck["kind"] == "alphazero":
        knowledge = origin(ck.get("meta") or {})
    elif ck["trainer"] == "pretrain":
        knowledge = (f"transcripts: fresh uniformly random games (the split of {cfg.get('data')})"
                     if cfg.get("fresh_games") else f"transcripts: {cfg.get('data')}")
    else:
        knowledge = "fine-tuned on outcomes"
    meta = {**(ck.get("meta") or {}), "knowledge": knowledge, "exported_from": ck["path"],
            "note": "weights only: no optimizer state"}
    if args.command:
        meta["source"] = args.command
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    checkpoint.write(args.out, step=ck["step"], kind=ck["kind"], trainer=ck["trainer"], config=ck["config"],
                     model=ck["model"], weights=ck["weights"], optimizer={}, rng=ck["rng"], compute=ck["compute"],
                     meta=meta)
    print(json.dumps({"out": args.out, "step": ck["step"], "knowledge": meta["knowledge"],
                      "bytes": os.path.getsize(args.out)}))


def cmd_convert(args):
    from arena.convert import convert

    print(convert(args.src, args.dst))


def cmd_study(args):
    from agents.common.config import load_config
    from arena.study.config import StudyConfig
    from arena.study.report import write_report
    from arena.study.run import run_study

    if args.report_only:
        if args.config or args.set:
            raise ValueError("--report-only rebuilds the report from a study's logs: give no --config or --set")
        from agents.common.files import read_json
        from arena.study.seeds import write_seed_report

        saved = read_json(os.path.join(args.report_only, "study.json"))
        seeds = StudyConfig.from_dict(saved).seeds if saved else ()
        for s in seeds:
            write_report(os.path.join(args.report_only, f"seed_{s}"))
        if seeds:
            write_seed_report(args.report_only)
        else:
            write_report(args.report_only)
        return
    if not args.config:
        raise ValueError("give --config (configs/study_othello6.yaml), or --report-only RUN")
    cfg = load_config(StudyConfig, args.config, args.set or [])
    name = os.path.splitext(os.path.basename(args.config))[0]
    out = args.out or os.path.join("runs", name)
    command = " ".join(["arena study --config", args.config, *(f"--set {x}" for x in args.set or []), "--out", out])
    run_study(cfg, out, command=command, address=args.address)


def add_config_options(p, config_help, run_dir=None):
    """The options every config-driven command shares: ``--config``, ``--set`` and, for trainers
    (``run_dir`` names the default), ``--run-dir`` and ``--resume``."""
    p.add_argument("--config", help=config_help)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (repeatable)")
    if run_dir:
        p.add_argument("--run-dir", help=f"where {run_dir} go (default runs/CONFIG)")
        p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --run-dir")


def build_parser():
    ap = argparse.ArgumentParser(
        prog="arena",
        description="selfplay-arena: Numba Othello and Go engines, search, training and tournaments.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("perft", help="count leaf positions of Othello from the start (rules check)",
                       description="Othello perft from the start position, under the convention where a forced "
                                   "pass uses a ply and a game that ends before the depth is one leaf (depth 10 "
                                   "on 8x8: 24571284; where a pass uses no ply it would be 24571420). "
                                   "Prints one JSON line per board size (8x8, then 6x6, unless --size).")
    p.add_argument("game", choices=["othello"], help="the game (perft is defined for Othello)")
    p.add_argument("--depth", type=int, required=True, help="plies to search (depth 10 on 8x8: 24571284)")
    p.add_argument("--size", type=int, choices=[4, 6, 8], help="only this board size")
    p.set_defaults(func=cmd_perft)

    bench = sub.add_parser("bench", help="throughput benchmarks (JSON with same-run baselines)",
                           description="Benchmarks that print JSON and include same-run baselines.")
    bsub = bench.add_subparsers(dest="bench_command", metavar="WHAT")
    be = bsub.add_parser("env", help="random-playout moves/s and perft leaves/s vs pure Python and OpenSpiel",
                         description="Random-playout moves/s (Othello 8x8, Go 9x9) and perft leaves/s on one "
                                     "core, with the pure-Python reference and OpenSpiel (when installed) "
                                     "measured in the same run.")
    be.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default 2)")
    be.add_argument("--batch", type=int, default=1024, help="games stepped at once (default 1024)")
    be.add_argument("--perft-depth", type=int, default=9, help="Othello perft depth timed (default 9)")
    be.set_defaults(func=cmd_bench_env)
    bm = bsub.add_parser("mcts", help="MCTS simulations/s (tree-only, rollouts, ResNet) vs plain Python and OpenSpiel",
                         description="Batched MCTS simulations/s on one core for Othello 8x8 and Go 9x9: uniform "
                                     "evaluator (tree cost alone), random rollouts and a b6c64 ResNet (per inference backend) at several "
                                     "batch sizes, with the plain-Python PUCT and OpenSpiel's C++ MCTSBot (when "
                                     "installed) measured in the same run. Prints JSON.")
    bm.add_argument("--seconds", type=float, default=1.0, help="time per measurement (default 1)")
    bm.add_argument("--batches", default="1,16,64,256", help="games searched at once (default 1,16,64,256)")
    bm.add_argument("--simulations", type=int, default=64, help="simulations per search (default 64; net runs 16)")
    bm.add_argument("--no-net", action="store_true", help="skip the ResNet runs")
    bm.add_argument("--backends", default="torch,onnx,onnx-int8",
                    help="inference backends of the ResNet runs (default torch,onnx,onnx-int8)")
    bm.set_defaults(func=cmd_bench_mcts)
    bs = bsub.add_parser("selfplay", help="self-play positions/s per inference backend and per Ray worker count",
                         description="One self-play worker as arena train runs it (8x8 Othello, b6c64, Gumbel, "
                                     "32/8 simulations with playout-cap randomisation, 64 games in flight, one "
                                     "thread) under every inference backend, each checked against eager fp32 "
                                     "(the baseline); the backend auto chooses; 1 and 2 Ray workers; and one "
                                     "game with one leaf per network call. Prints JSON.")
    bs.add_argument("--seconds", type=float, default=20.0, help="time per measurement (default 20)")
    bs.add_argument("--game", default="othello", choices=["othello", "go"], help="game (default othello)")
    bs.add_argument("--size", type=int, default=8, help="board size (default 8)")
    bs.add_argument("--ckpt", default=None, help="a trained checkpoint or run directory (default: random weights)")
    bs.add_argument("--games-in-flight", type=int, default=64, help="games per worker (default 64)")
    bs.add_argument("--simulations", type=int, default=32, help="full-search simulations per move (default 32)")
    bs.add_argument("--backends", default="torch,compile,bf16,onnx,onnx-int8", help="backends to time")
    bs.add_argument("--workers", default="1,2", help="Ray worker counts to time (default 1,2; 0 skips)")
    bs.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"], help="where the backends run (default cpu)")
    bs.set_defaults(func=cmd_bench_selfplay)
    bc = bsub.add_parser("checkpoint", help="checkpoint load time: our safe format vs safetensors + JSON",
                         description="Load time of an 8x8 b6c64 AlphaZero checkpoint and a small GPT checkpoint "
                                     "(with optimizer state) in our format (torch.load with weights_only=True) "
                                     "and, when safetensors is installed, as safetensors plus a JSON sidecar, "
                                     "measured in the same run. Prints JSON.")
    bc.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default 2)")
    bc.set_defaults(func=cmd_bench_checkpoint)
    bt = bsub.add_parser("tournament", help="tournament games/hour: batched chunks vs one game per Ray task",
                         description="An az-vs-az tournament on 8x8 Othello (an untrained b6c64 net, Gumbel "
                                     "search of 32 simulations) through arena tournament's own Ray tasks: chunks "
                                     "of games played as one batch, and, in the same run, one game per task (the "
                                     "earlier way). Prints JSON with games/hour of each and their ratio.")
    bt.add_argument("--games", type=int, default=64, help="games of the batched run (default 64)")
    bt.add_argument("--seconds", type=float, default=30.0, help="time of the one-game-per-task run (default 30)")
    bt.add_argument("--batch-games", type=int, default=32, help="games per chunk, batched run (default 32)")
    bt.add_argument("--sims", type=int, default=32, help="simulations per move (default 32)")
    bt.add_argument("--workers", type=int, default=2, help="Ray workers (default 2)")
    bt.add_argument("--ckpt", default=None, help="an 8x8 Othello checkpoint or run directory (default: untrained b6c64)")
    bt.add_argument("--inference", default="auto", choices=INFERENCE, help="the batched run's backend (default auto)")
    bt.add_argument("--baseline-inference", default="torch", choices=INFERENCE,
                    help="the one-game-per-task run's backend (default torch, eager fp32)")
    bt.set_defaults(func=cmd_bench_tournament)
    tr = sub.add_parser("train", help="AlphaZero self-play training on Ray (local by default)",
                        description="AlphaZero: self-play on Ray actors (or, with --set workers=0, in this "
                                    "process without Ray), a replay buffer and a learner. With no --address a "
                                    "local Ray instance sized to the machine is started; --address auto, "
                                    "HOST:PORT or ray://host:port joins a running cluster. --set device=cuda "
                                    "(or auto) trains on a GPU; --set inference=... picks how self-play runs "
                                    "the net (auto by default: the fastest that agrees with fp32).")
    add_config_options(tr, "YAML config (configs/*_az.yaml); defaults apply where it is silent",
                       "checkpoints, metrics and the replay buffer")
    tr.add_argument("--address", default=None, help="Ray cluster to join (auto, ray://host:port); default: local")
    tr.add_argument("--init-transcripts", metavar="DATA",
                    help="bootstrap from engine games first (AlphaGo's supervised start): learn the moves and "
                         "results of a transcript dataset (arena transcripts --source gtp:...) before "
                         "self-play; same as --set init_transcripts=DATA (passes: --set init_epochs=N)")
    tr.set_defaults(func=cmd_train)
    ev = sub.add_parser("eval", help="a training checkpoint against fixed anchors, with 95%% intervals",
                        description="Play a checkpoint's network (Gumbel search, no noise) against anchors "
                                    "(random, greedy, mcts:N), colours alternating; prints a table of wins, "
                                    "draws, losses, score and its 95% Wilson interval per anchor (--json: one "
                                    "JSON line).")
    ev.add_argument("--ckpt", required=True, help="checkpoint file, or a run directory (its newest checkpoint)")
    ev.add_argument("--against", default="random,greedy,mcts:200", help="comma-separated anchors")
    ev.add_argument("--games", type=int, default=200, help="games per anchor (default 200)")
    ev.add_argument("--simulations", type=int, default=32, help="the network's search simulations (default 32)")
    ev.add_argument("--seed", type=int, default=12345, help="seed of the games (default 12345)")
    ev.add_argument("--inference", default="torch", choices=INFERENCE,
                    help="how the net runs: torch (eager fp32, default), compile, bf16, onnx, onnx-int8, or auto "
                         "(the fastest that agrees with fp32)")
    ev.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"], help="cpu (default), cuda or auto")
    ev.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    ev.set_defaults(func=cmd_eval)
    gt = sub.add_parser("gtp", help="serve an agent as a GTP v2 engine on stdin/stdout",
                        description="Make any agent a GTP v2 engine (for GoGui, Sabaki, Quarry or another "
                                    "arena). Othello follows gtp-rhino: 'set_game Othello', vertices like D3 "
                                    "with row 1 on top. Malformed commands get '? message'; the engine stays up.")
    gt.add_argument("--game", default="go", choices=["othello", "go"], help="game at start (default go)")
    gt.add_argument("--size", type=int, help="board size at start (default 9 for Go, 8 for Othello)")
    gt.add_argument("--komi", type=float, help="Go komi at start (default: the size's, 7.5 on 9x9)")
    gt.add_argument("--agent", default="mcts:rollouts=200", help="agent spec (default mcts:rollouts=200)")
    gt.add_argument("--seed", type=int, default=0, help="the agent's seed (default 0)")
    gt.set_defaults(func=cmd_gtp)
    to = sub.add_parser("tournament", help="round-robin or gauntlet with Elo ratings, records and a viewer",
                        description="Play a tournament (round-robin or gauntlet) with games in parallel as Ray "
                                    "tasks (local by default), appending each game to OUT/games.jsonl; a rerun "
                                    "skips finished games. Writes ratings (Bradley-Terry Elo with a first-mover "
                                    "term and 95% intervals) as markdown, CSV, JSON and PNG, game records "
                                    "(SGF or transcripts) and OUT/viewer.html.")
    add_config_options(to, "YAML config (configs/tournament_*.yaml)")
    to.add_argument("--player", action="append", metavar="NAME=SPEC",
                    help="a player (repeatable; replaces the config's players), e.g. mcts200=mcts:rollouts=200")
    to.add_argument("--out", help="results directory (default runs/CONFIG)")
    to.add_argument("--address", default=None, help="Ray cluster to join (auto, ray://host:port); default: local")
    to.set_defaults(func=cmd_tournament)
    la = sub.add_parser("ladder", help="an agent against an engine's levels in order, until it scores under 25%%",
                        description="Play an agent against gtp-rhino's levels (8x8 Othello) or GNU Go's (9x9 Go, "
                                    "komi 7.5, area scoring), weakest first, N games per level from balanced "
                                    "random openings with both colours, engine games in parallel as Ray tasks. "
                                    "Stops after the first level where the agent scores under 25%. Prints each "
                                    "level's score with its 95% Wilson interval and one Elo scale for all "
                                    "levels (one Bradley-Terry fit, the first level = 0). OUT is a tournament "
                                    "directory whose roster grows by a level at a time (a rerun resumes; arena "
                                    "ratings / view work on it) with OUT/ladder.json and ladder.md beside it.")
    la.add_argument("--agent", required=True, metavar="[NAME=]SPEC",
                    help="the agent's spec, e.g. az:othello8,sims=64 (plays as 'agent' unless named)")
    la.add_argument("--engine", required=True, help="the engine whose levels it climbs: gtp-rhino or gnugo")
    la.add_argument("--levels", default=None, help="levels, weakest first: 1-5, 1,3,5 (default: gtp-rhino 1-5, gnugo 1-10)")
    la.add_argument("--games", type=int, default=20, help="games per level, colours alternating (default 20)")
    la.add_argument("--size", type=int, default=None, help="board size (default the engine's: gtp-rhino 8 only, gnugo 9)")
    la.add_argument("--openings", type=int, default=-1,
                    help="balanced openings, each with both colours (default half the games; 0: the start position)")
    la.add_argument("--stop-below", type=float, default=0.25, help="stop after a level scored under this (default 0.25)")
    la.add_argument("--workers", type=int, default=2, help="Ray tasks at once; 0: in this process, no Ray (default 2)")
    la.add_argument("--seed", type=int, default=1, help="seed of the openings and games (default 1)")
    la.add_argument("--out", help="results directory (default runs/ladder_rhino or runs/ladder_gnugo)")
    la.add_argument("--address", default=None, help="Ray cluster to join (auto, ray://host:port); default: local")
    la.set_defaults(func=cmd_ladder)
    ra = sub.add_parser("ratings", help="recompute a tournament's ratings, records and viewer from its log",
                        description="Rebuild ratings.{md,csv,json,png}, records and viewer.html of a results "
                                    "directory from tournament.json and games.jsonl, without playing.")
    ra.add_argument("dir", help="tournament results directory")
    ra.set_defaults(func=cmd_ratings)
    vi = sub.add_parser("view", help="write a static HTML viewer of a tournament's games",
                        description="Write DIR/viewer.html: a self-contained page that steps through every "
                                    "recorded game on a drawn board (arrow keys, slider, move list). Prints "
                                    "its path.")
    vi.add_argument("dir", help="tournament results directory")
    vi.set_defaults(func=cmd_view)
    pl = sub.add_parser("play", help="play an agent yourself in the terminal",
                        description="Play against an agent: moves in the game's notation (f5, D4), 'pass', "
                                    "'undo', 'hint', 'help', 'quit'.")
    pl.add_argument("--game", default="othello", choices=["othello", "go"], help="game (default othello)")
    pl.add_argument("--size", type=int, help="board size (default 8 for Othello, 9 for Go)")
    pl.add_argument("--komi", type=float, help="Go komi (default: the size's)")
    pl.add_argument("--agent", default="mcts:rollouts=200", help="opponent spec (default mcts:rollouts=200)")
    pl.add_argument("--color", default="black", choices=["black", "white"], help="your colour (default black)")
    pl.add_argument("--seed", type=int, default=0, help="the agent's seed (default 0)")
    pl.set_defaults(func=cmd_play)
    tt = sub.add_parser("transcripts", help="make a transcript dataset (token shards) for the sequence model",
                        description="Write token shards (uint8 .npy, memory-mapped for training) and a JSON "
                                    "manifest: games deduplicated, split into train/val by a hash of each game. "
                                    "Sources: random (a uniformly random legal move at every ply, in Numba, as "
                                    "Othello-GPT), selfplay:RUN (fresh games of a training run's newest net), "
                                    "gtp:COMMAND (an outside engine's games with their results, at one level "
                                    "or mixed --levels, from random openings, as Ray tasks, resumable, kept "
                                    "in OUT/games: the data of arena train --init-transcripts), "
                                    "tournament:DIR (a tournament's games), wthor:FILE[,FILE] (WTHOR .wtb).")
    tt.add_argument("--game", default="othello", choices=["othello", "go"], help="game (default othello)")
    tt.add_argument("--size", type=int, help="board size (default 8 for Othello, 9 for Go)")
    tt.add_argument("--source", default="random",
                    help="random | selfplay:RUN | gtp:COMMAND | tournament:DIR | wthor:FILES; COMMAND may hold "
                         "{level}, or be gnugo or gtp-rhino (the ladder's commands)")
    tt.add_argument("--games", type=int, default=100_000, help="games to generate (random, selfplay, gtp)")
    tt.add_argument("--levels", help="gtp: the engine's levels, every pair of them meeting (1-10, 1,3,5); one "
                                     "level: the engine against itself (default for gnugo 1-10, gtp-rhino 1-5)")
    tt.add_argument("--opening-plies", type=int, default=None,
                    help="gtp: random plies before the engines play (default 8 for Othello, 4 for Go)")
    tt.add_argument("--workers", type=int, default=2, help="gtp: engine games at once, as Ray tasks; 0 without "
                                                           "Ray (default 2)")
    tt.add_argument("--address", help="gtp: a Ray cluster to join (default: a local instance)")
    tt.add_argument("--simulations", type=int, default=32,
                    help="selfplay: simulations of the net's Gumbel search per move (default 32)")
    tt.add_argument("--val-fraction", type=float, default=0.05, help="share of games held out (default 0.05)")
    tt.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    tt.add_argument("--permute", type=int, default=None, metavar="SEED",
                    help="reshuffle the move ids by this seed (the nominal-token control); the games and their "
                         "train/val split stay those of the unpermuted dataset")
    tt.add_argument("--out", required=True, help="dataset directory (must not hold a dataset yet)")
    tt.set_defaults(func=cmd_transcripts)
    pt = sub.add_parser("pretrain", help="next-token pretraining of the GPT on transcripts",
                        description="Train the GPT by next-token prediction on a transcript dataset: AdamW, "
                                    "warmup and cosine decay, gradient clipping, held-out loss, accuracy and "
                                    "legal-move error rate (Othello-GPT's definition), JSONL and TensorBoard "
                                    "metrics, atomic checkpoints, --resume. GPU when present, else CPU.")
    add_config_options(pt, "YAML config (configs/seq_*.yaml)", "checkpoints and metrics")
    pt.set_defaults(func=cmd_pretrain)
    pr = sub.add_parser("probe", help="linear and MLP board probes per layer of a GPT checkpoint",
                        description="Train probes on the GPT's residual stream, per layer, to read each square "
                                    "as empty/mine/theirs (relative to the side to move) and empty/black/white, "
                                    "on held-out games split by game. Prints per-layer accuracy (JSON) and "
                                    "writes probe.json and probe.png.")
    pr.add_argument("--ckpt", required=True, help="GPT checkpoint, or a run directory (its newest)")
    pr.add_argument("--games", type=int, default=3000, help="held-out games to probe (default 3000)")
    pr.add_argument("--epochs", type=int, default=8, help="probe training epochs (default 8)")
    pr.add_argument("--out", help="output directory (default RUN/probe)")
    pr.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    pr.set_defaults(func=cmd_probe)
    se = sub.add_parser("seq-eval", help="a GPT's legal-move error and board probes on fresh random games (JSON)",
                        description="Measure a sequence model on N fresh uniformly random games held out from "
                                    "every random training set (the validation side of the split): legal_error "
                                    "(top-1 prediction after every prefix, illegal = error; Othello-GPT's "
                                    "definition) and probe_linear, the best layer's linear probe of empty/mine/"
                                    "theirs. Prints one JSON line.")
    se.add_argument("--agent", required=True, help="seq:CHECKPOINT (a file or run directory) or seq:othello8")
    se.add_argument("--games", type=int, default=2000, help="fresh games (default 2000)")
    se.add_argument("--seed", type=int, default=0, help="seed of the games and the probes (default 0)")
    se.add_argument("--mlp", action="store_true", help="also fit the 2-layer MLP probes (probe_mlp; slower)")
    se.add_argument("--threads", type=int, default=0, help="CPU threads for torch (default 0: torch's default)")
    se.set_defaults(func=cmd_seq_eval)
    ft = sub.add_parser("finetune", help="RL fine-tuning of the GPT on game outcomes (GRPO, KL to the start)",
                        description="Policy-gradient fine-tuning (GRPO: group-relative advantages over games "
                                    "that share an opening, opponent and colour) with a KL penalty to the "
                                    "initial model, against a pool (self, snapshot, greedy, mcts:..., az:...). "
                                    "Logs win rates, KL, entropy and compute (games, forward passes, tokens, "
                                    "reward events). --init none trains the same model by RL from scratch.")
    add_config_options(ft, "YAML config (configs/seq_rl_*.yaml)", "checkpoints and metrics")
    ft.add_argument("--init", required=True, help="pretrained GPT checkpoint or run directory, or none")
    ft.set_defaults(func=cmd_finetune)
    st = sub.add_parser("study", help="the comparison: AlphaZero vs pretraining + RL vs RL, matched compute, one report",
                        description="Run the study's arms (AlphaZero from scratch and bootstrapped on an engine's "
                                    "games; the GPT pretrained on random, expert or engine transcripts, each then "
                                    "fine-tuned by RL; the GPT trained by RL alone; two controls: permuted move "
                                    "ids, permuted board squares) at a matched wall-clock or FLOP budget, once per "
                                    "seed, measure every sequence model, rate every arm's checkpoints in one "
                                    "tournament per seed with fixed anchors and write OUT/report.md and "
                                    "report.html (with seeds: one per seed and one across them). Resumable: "
                                    "rerun the same command after an interruption.")
    add_config_options(st, "YAML config (configs/study_othello6.yaml: about an hour on 2 cores)")
    st.add_argument("--out", help="study directory (default runs/CONFIG)")
    st.add_argument("--report-only", metavar="RUN", help="rebuild RUN/report.md and report.html from its logs")
    st.add_argument("--address", help="a Ray cluster whose room lets the arms run at once (parallel: auto); "
                                      "default RAY_ADDRESS, else one stage after another on this machine")
    st.set_defaults(func=cmd_study)
    ex = sub.add_parser("export", help="a training checkpoint as a small model file (weights only) to ship",
                        description="Write an AlphaZero or GPT checkpoint (a file, or a run directory: its "
                                    "newest) without its optimizer state, in the same safe format, with where "
                                    "its weights came from (zero-knowledge, bootstrapped from how many engine "
                                    "games, or the GPT's transcripts) in its meta: how the nets of models/ are "
                                    "made.")
    ex.add_argument("--ckpt", required=True, help="checkpoint file or run directory")
    ex.add_argument("--out", required=True, help="the model file to write (must not exist)")
    ex.add_argument("--command", help="the training command, recorded in the file's meta")
    ex.set_defaults(func=cmd_export)
    cv = sub.add_parser("convert-checkpoint", help="convert a checkpoint of the earlier (pickled) layout; trusted files only",
                        description="Turn a checkpoint written before checkpoint version 2 into the safe format. "
                                    "UNSAFE: reading the old layout unpickles it, and unpickling can run any code "
                                    "its author put in the file; use this only on files you made or trust. The "
                                    "converted file loads without unpickling anything.")
    cv.add_argument("src", help="the old checkpoint (trusted)")
    cv.add_argument("dst", help="where to write the converted checkpoint (must not exist)")
    cv.set_defaults(func=cmd_convert)
    return ap


def main(argv=None):
    ap = build_parser()
    args = ap.parse_args(argv)
    if not getattr(args, "func", None):
        ap.print_help()
        return 2
    try:
        args.func(args)
    except (ValueError, OSError) as e:
        print(f"arena: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"arena: interrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
