"""The ``arena`` subcommands, one module per group, each command's parser beside its handler:

    rules         perft
    bench         bench env | mcts | selfplay | checkpoint | tournament (the options are the benchmarks' own)
    alphazero     train, eval
    matches       gtp, tournament, ladder, ratings, view, play
    serve         serve (the web page)
    seq           transcripts, pretrain, probe, seq-eval, finetune
    study         study
    checkpoints   export, convert-checkpoint

Each module's ``register(sub)`` adds its parsers to the ``arena`` subparsers, each with its handler as
``func``. A handler imports what it runs inside itself, so that parsing never loads torch, Ray or Numba:
``arena --help`` or ``arena perft`` start in a fraction of a second. A handler only turns options into a
call; what the command does lives in the library module it calls.
"""

import os


def add_config_options(p, config_help, run_dir=None):
    """The options every config-driven command shares: ``--config``, ``--set`` and, for trainers
    (``run_dir`` names the default), ``--run-dir`` and ``--resume``."""
    p.add_argument("--config", help=config_help)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (repeatable)")
    if run_dir:
        p.add_argument("--run-dir", help=f"where {run_dir} go (default runs/CONFIG)")
        p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --run-dir")


def run_dir_of(args, fallback):
    """``--run-dir``, or ``runs/NAME`` after the config file's name."""
    name = os.path.splitext(os.path.basename(args.config))[0] if args.config else fallback
    return args.run_dir or os.path.join("runs", name)


def refuse_unresumed(run_dir, resume):
    """A run directory with checkpoints is continued only when asked (checked before anything is written)."""
    from agents.common.checkpoint import latest

    if latest(run_dir) and not resume:
        raise ValueError(f"{run_dir} already has checkpoints: add --resume to continue it, or choose --run-dir")
