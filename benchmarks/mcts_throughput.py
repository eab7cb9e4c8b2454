"""MCTS simulations per second on one CPU core, printed as JSON, with same-run baselines.

    python benchmarks/mcts_throughput.py [--seconds 1] [--batches 1,16,64,256]     (or: arena bench mcts)

For Othello 8x8 and Go 9x9, from the start position, B games searched at once:
- ``uniform``: uniform priors, value 0: the cost of the tree alone (selection, replay, expansion, backup).
- ``rollouts``: one random rollout to the end per leaf (classic pure MCTS).
- ``net_b6c64``: a b6c64 ResNet (random weights, one thread) as evaluator under each inference backend
  (``--backends``; agents.alphazero.inference, ``torch`` being eager fp32), with the fraction of the
  time spent outside the network.
Baselines measured in the same run: the plain-Python PUCT (``agents.search.reference``, same rules
kernels) and, when ``open_spiel`` is importable, OpenSpiel's C++ ``MCTSBot`` with one random rollout.
Each figure is the best single run (one search) within ``--seconds`` of repeats.
"""

import json
import platform
import sys
import time


from agents.search.evaluators import Evaluator, RolloutEvaluator, UniformEvaluator
from agents.search.mcts import MCTS
from agents.search.reference import puct_search
from benchmarks import standalone
from benchmarks.env_throughput import best_rate
from envs.core import make_batch

GAMES = (("othello", 8), ("go", 9))


class TimedEvaluator(Evaluator):
    """Wraps an evaluator and adds up the seconds spent inside it."""

    def __init__(self, inner):
        self.inner = inner
        self.needs_observation = inner.needs_observation
        self.seconds = 0.0

    def evaluate(self, obs, mask, leaves):
        t = time.perf_counter()
        out = self.inner.evaluate(obs, mask, leaves)
        self.seconds += time.perf_counter() - t
        return out


def ours(game, size, batch, evaluator, simulations, seconds):
    g = make_batch(game, batch, size, seed=0)
    m = MCTS(evaluator, simulations=simulations, seed=0)
    m.search(g)  # compile and allocate outside the timing
    return best_rate(lambda: (m.search(g), batch * simulations)[1], seconds)


def net_evaluators(game, size, backends):
    """{backend: TimedEvaluator} for one random-weight b6c64 net of ``game``/``size``."""
    import torch

    from agents.alphazero.inference import NetEvaluator, sample_positions
    from agents.alphazero.network import from_preset

    torch.manual_seed(0)
    net = from_preset("b6c64", make_batch(game, 1, size).num_planes, size).eval()
    sample = sample_positions(game, size, 128, seed=0)
    return {name: TimedEvaluator(NetEvaluator(net, name, sample=sample)) for name in backends}


def net_run(game, size, batch, ev, simulations, seconds):
    g = make_batch(game, batch, size, seed=0)
    m = MCTS(ev, simulations=simulations, seed=0)
    m.search(g)
    best, best_frac = 0.0, 1.0
    for _ in range(2):
        ev.seconds, n, t = 0.0, 0, time.perf_counter()
        while True:
            m.search(g)
            n += batch * simulations
            dt = time.perf_counter() - t
            if dt >= seconds:
                break
        if n / dt > best:
            best, best_frac = n / dt, 1.0 - ev.seconds / dt
    return {"sims_per_s": round(best), "positions_per_s_net": round(best / max(1e-9, 1.0 - best_frac)),
            "fraction_outside_net": round(best_frac, 3)}


def reference(game, size, evaluator_fn, simulations, seconds):
    g = make_batch(game, 1, size, seed=0)
    puct_search(g, evaluator_fn(), 2)  # compile the kernels it steps outside the timing
    return best_rate(lambda: (puct_search(g, evaluator_fn(), simulations), simulations)[1], seconds)


def open_spiel(game, size, simulations, seconds):
    try:
        import pyspiel
    except ImportError:
        return None
    g = pyspiel.load_game("othello") if game == "othello" else pyspiel.load_game("go", {"board_size": size})
    bot = pyspiel.MCTSBot(g, pyspiel.RandomRolloutEvaluator(1, 0), 2.0, simulations, 1000, False, 0, False)
    state = g.new_initial_state()
    return best_rate(lambda: (bot.step(state), simulations)[1], seconds)


def add_arguments(ap):
    """This benchmark's options, on its own parser or on ``arena bench mcts``'s."""
    ap.add_argument("--seconds", type=float, default=1.0, help="time per measurement (default 1)")
    ap.add_argument("--batches", default="1,16,64,256", help="games searched at once (default 1,16,64,256)")
    ap.add_argument("--simulations", type=int, default=64, help="simulations per search (default 64; net runs 16)")
    ap.add_argument("--no-net", action="store_true", help="skip the ResNet runs")
    ap.add_argument("--backends", default="torch,onnx,onnx-int8",
                    help="inference backends of the ResNet runs (default torch,onnx,onnx-int8)")


def run(args):
    """Measure, print the JSON object and return it."""
    try:
        batches = [int(x) for x in args.batches.split(",")]
    except ValueError:
        raise ValueError(f"--batches must be comma-separated integers, got {args.batches!r}") from None
    if not batches or min(batches) < 1 or args.seconds <= 0 or args.simulations < 1:
        raise ValueError("--batches, --seconds and --simulations must be positive")
    if not args.no_net:
        import torch

        torch.set_num_threads(1)

    sims, s = args.simulations, args.seconds
    out = {"machine": {"python": platform.python_version(), "processor": platform.machine(),
                       "note": "one core (torch one thread); best of repeated runs; start position"},
           "simulations_per_search": sims}
    for game, size in GAMES:
        key = f"{game}{size}"
        r = {"uniform": {}, "rollouts": {}}
        for b in batches:
            r["uniform"][f"B{b}"] = round(ours(game, size, b, UniformEvaluator(), sims, s))
            r["rollouts"][f"B{b}"] = round(ours(game, size, b, RolloutEvaluator(seed=0), sims, s))
        if not args.no_net:
            evs = net_evaluators(game, size, [x.strip() for x in args.backends.split(",") if x.strip()])
            r["net_b6c64"] = {name: {f"B{b}": net_run(game, size, b, ev, min(sims, 16), s) for b in batches}
                              for name, ev in evs.items()}
        r["python_puct_uniform"] = round(reference(game, size, UniformEvaluator, sims, s))
        r["python_puct_rollouts"] = round(reference(game, size, lambda: RolloutEvaluator(seed=0), sims, s))
        osp = open_spiel(game, size, 400, s)
        best_roll = max(r["rollouts"].values())
        if osp:
            r["open_spiel_cpp_mctsbot_rollouts"] = round(osp)
            r["ratio_rollouts_vs_open_spiel_cpp"] = round(best_roll / osp, 1)
        else:
            r["open_spiel"] = "not installed (pip install open-spiel)"
        r["ratio_rollouts_vs_python_puct"] = round(best_roll / r["python_puct_rollouts"], 1)
        r["ratio_uniform_vs_python_puct"] = round(max(r["uniform"].values()) / r["python_puct_uniform"], 1)
        out[key] = r
        print(f"{key} done", file=sys.stderr)
    print(json.dumps(out))
    return out


def main(argv=None):
    return standalone(sys.modules[__name__], argv)


if __name__ == "__main__":
    main()
