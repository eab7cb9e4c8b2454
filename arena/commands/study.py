"""``arena study``: the comparison of the study's arms at matched compute, and its report."""

import os

from arena.commands import add_config_options


def cmd_study(args):
    from agents.common.config import load_config
    from arena.study.config import StudyConfig
    from arena.study.run import rebuild_report, run_study

    if args.report_only:
        if args.config or args.set:
            raise ValueError("--report-only rebuilds the report from a study's logs: give no --config or --set")
        rebuild_report(args.report_only)
        return
    if not args.config:
        raise ValueError("give --config (configs/study_othello6.yaml), or --report-only RUN")
    cfg = load_config(StudyConfig, args.config, args.set or [])
    name = os.path.splitext(os.path.basename(args.config))[0]
    out = args.out or os.path.join("runs", name)
    command = " ".join(["arena study --config", args.config, *(f"--set {x}" for x in args.set or []), "--out", out])
    run_study(cfg, out, command=command, address=args.address)


def register(sub):
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
