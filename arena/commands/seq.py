"""The sequence model: ``arena transcripts``, ``pretrain``, ``probe``, ``seq-eval`` and ``finetune``."""

import json
import os
import sys

from arena.commands import add_config_options, refuse_unresumed, run_dir_of


def cmd_transcripts(args):
    from arena.transcripts import write_transcripts

    m = write_transcripts(args.out, args.source, args.game, args.size, games=args.games, seed=args.seed,
                          val_fraction=args.val_fraction, permute=args.permute, simulations=args.simulations,
                          levels=args.levels, opening_plies=args.opening_plies, workers=args.workers,
                          address=args.address)
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


def register(sub):
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
