"""``arena bench``: the throughput benchmarks of ``benchmarks/``, each printing JSON with same-run baselines.

Each benchmark declares its options once, in its own module (``add_arguments``), and runs from them
(``run``): ``python -m benchmarks.X`` and ``arena bench X`` parse the same options. A benchmark module
imports torch or Numba as it loads, so its parser here loads it only when that benchmark is parsed or its
help is shown (:class:`BenchParser`): ``arena --help`` and ``arena bench --help`` stay fast.
"""

import argparse
import importlib

# name: (module, the one-line help, the description of ``arena bench NAME --help``)
BENCHMARKS = {
    "env": ("benchmarks.env_throughput",
            "random-playout moves/s and perft leaves/s vs pure Python and OpenSpiel",
            "Random-playout moves/s (Othello 8x8, Go 9x9) and perft leaves/s on one core, with the pure-Python "
            "reference and OpenSpiel (when installed) measured in the same run."),
    "mcts": ("benchmarks.mcts_throughput",
             "MCTS simulations/s (tree-only, rollouts, ResNet) vs plain Python and OpenSpiel",
             "Batched MCTS simulations/s on one core for Othello 8x8 and Go 9x9: uniform evaluator (tree cost "
             "alone), random rollouts and a b6c64 ResNet (per inference backend) at several batch sizes, with the "
             "plain-Python PUCT and OpenSpiel's C++ MCTSBot (when installed) measured in the same run. Prints "
             "JSON."),
    "selfplay": ("benchmarks.selfplay_throughput",
                 "self-play positions/s per inference backend and per Ray worker count",
                 "One self-play worker as arena train runs it (8x8 Othello, b6c64, Gumbel, 32/8 simulations with "
                 "playout-cap randomisation, 64 games in flight, one thread) under every inference backend, each "
                 "checked against eager fp32 (the baseline); the backend auto chooses; 1 and 2 Ray workers; and "
                 "one game with one leaf per network call. Prints JSON."),
    "play": ("benchmarks.play_throughput",
             "one game's search: simulations/s of an az: player per backend vs eager torch, one leaf a call",
             "An az: player's search in a single game (the positions of one game it plays against itself), "
             "one thread, under each inference backend checked against eager fp32, with eager torch "
             "evaluating one leaf per network call (the baseline) in the same run. Prints one JSON line: "
             "one_leaf_torch, best (sims_per_s, backend, leaves_per_call) and every backend's figures."),
    "checkpoint": ("benchmarks.checkpoint_load",
                   "checkpoint load time: our safe format vs safetensors + JSON",
                   "Load time of an 8x8 b6c64 AlphaZero checkpoint and a small GPT checkpoint (with optimizer "
                   "state) in our format (torch.load with weights_only=True) and, when safetensors is installed, "
                   "as safetensors plus a JSON sidecar, measured in the same run. Prints JSON."),
    "train": ("benchmarks.train_throughput",
              "learner steps and positions per minute of arena train: one core vs Ray workers beside it",
              "The same training config for the same wall-clock minutes with self-play in the learner's "
              "process (workers 0, one core: the baseline) and on Ray workers beside the learner (both cores "
              "of a 2-core machine), one after the other in this run. Prints JSON with each arm's learner "
              "steps, positions and games per minute, and their ratio."),
    "tournament": ("benchmarks.tournament_throughput",
                   "tournament games/hour: batched chunks vs one game per Ray task",
                   "An az-vs-az tournament on 8x8 Othello (an untrained b6c64 net, Gumbel search of 32 "
                   "simulations) through arena tournament's own Ray tasks: chunks of games played as one batch, "
                   "and, in the same run, one game per task (the earlier way). Prints JSON with games/hour of "
                   "each and their ratio."),
}


class BenchParser(argparse.ArgumentParser):
    """A benchmark's parser, given its options and its ``run`` by the module named ``module`` when it is
    first used (to parse, or to format its help)."""

    module = None

    def load(self):
        if self.module:
            bench = importlib.import_module(self.module)
            self.module = None
            bench.add_arguments(self)
            self.set_defaults(func=bench.run)

    def parse_known_args(self, args=None, namespace=None):
        self.load()
        return super().parse_known_args(args, namespace)

    def format_help(self):
        self.load()
        return super().format_help()


def register(sub):
    bench = sub.add_parser("bench", help="throughput benchmarks (JSON with same-run baselines)",
                           description="Benchmarks that print JSON and include same-run baselines.")
    bsub = bench.add_subparsers(dest="bench_command", metavar="WHAT", parser_class=BenchParser)
    for name, (module, summary, description) in BENCHMARKS.items():
        bsub.add_parser(name, help=summary, description=description).module = module
