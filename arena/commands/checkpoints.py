"""Checkpoint tools: ``arena export`` (a model file to ship) and ``arena convert-checkpoint`` (the earlier,
pickled layout to the safe one)."""

import json


def cmd_export(args):
    from agents.common.export import export

    ckpt, best = args.ckpt, None
    if args.best:
        from arena.study.measure import best_checkpoint

        best = best_checkpoint(args.ckpt)
        if best is None:
            raise ValueError(f"--best: {args.ckpt} is no run directory with a checkpoint at a step its "
                             f"metrics.jsonl gives a val_loss for (an arena pretrain run)")
        ckpt = best["path"]
    print(json.dumps({**export(ckpt, args.out, args.command), **({"best": best} if best else {})}))


def cmd_convert(args):
    from agents.common.convert import convert

    print(convert(args.src, args.dst))


def register(sub):
    ex = sub.add_parser("export", help="a training checkpoint as a small model file (weights only) to ship",
                        description="Write an AlphaZero or GPT checkpoint (a file, or a run directory: its "
                                    "newest) without its optimizer state, in the same safe format, with where "
                                    "its weights came from (zero-knowledge, bootstrapped from how many engine "
                                    "games, or the GPT's transcripts) in its meta: how the nets of models/ are "
                                    "made.")
    ex.add_argument("--ckpt", required=True, help="checkpoint file or run directory")
    ex.add_argument("--out", required=True, help="the model file to write (must not exist)")
    ex.add_argument("--command", help="the training command, recorded in the file's meta")
    ex.add_argument("--best", action="store_true",
                    help="a run directory's checkpoint of lowest held-out loss (val_loss in its metrics.jsonl) "
                         "instead of its newest: how arena study rates a pretraining arm on stored games, which "
                         "it sees many times over")
    ex.set_defaults(func=cmd_export)
    cv = sub.add_parser("convert-checkpoint", help="convert a checkpoint of the earlier (pickled) layout; trusted files only",
                        description="Turn a checkpoint written before checkpoint version 2 into the safe format. "
                                    "UNSAFE: reading the old layout unpickles it, and unpickling can run any code "
                                    "its author put in the file; use this only on files you made or trust. The "
                                    "converted file loads without unpickling anything.")
    cv.add_argument("src", help="the old checkpoint (trusted)")
    cv.add_argument("dst", help="where to write the converted checkpoint (must not exist)")
    cv.set_defaults(func=cmd_convert)
