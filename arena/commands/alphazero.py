"""``arena train`` and ``arena eval``: AlphaZero's training and a checkpoint against fixed anchors."""

import json

from arena.commands import add_config_options, refuse_unresumed, run_dir_of

# agents.alphazero.inference.CHOICES, restated so that parsing the command line never imports torch
INFERENCE = ("torch", "compile", "bf16", "onnx", "onnx-int8", "auto")


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
    print(f"| opponent ({args.games} games, balanced openings with both colours) | wins | draws | losses | score | "
          f"95% interval |")
    print("| --- | --- | --- | --- | --- | --- |")
    for spec in against:
        r = out[spec]
        print(f"| {spec} | {r['wins']} | {r['draws']} | {r['losses']} | {100 * r['score']:.1f}% | "
              f"{100 * r['ci95'][0]:.1f}-{100 * r['ci95'][1]:.1f}% |")


def register(sub):
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
                                    "(random, greedy, mcts:N) from balanced random openings, each played with "
                                    "both colours (agents.match); prints a table of wins, "
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
