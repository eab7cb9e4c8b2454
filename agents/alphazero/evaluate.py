"""A trained net's strength: loading it from a checkpoint, the search it plays with, the training
gauntlets and gates, and ``arena eval`` (a checkpoint against fixed anchors with 95% intervals).

    arena eval --ckpt runs/othello6_az --against greedy,mcts:200 --games 200

Every match here is played by agents.match from balanced random openings, each with both colours (the
same openings at every gauntlet of a run, drawn from its seed): the net's search is deterministic, so
from the start position alone a gauntlet of 40 games against another deterministic player would be two
games repeated.
"""

import copy
import math

from agents.alphazero.config import TrainConfig
from agents.alphazero.inference import NetEvaluator, sample_positions
from agents.alphazero.network import new_net
from agents.common import checkpoint
from agents.match import OPENING_PLIES, balanced_openings, match
from agents.players import MCTSAgent, is_baseline, make_baseline, wilson


def load_net(path, game=None, size=None):
    """``(net, cfg, checkpoint)`` from an AlphaZero checkpoint (or a run directory: its newest), read
    safely (agents.common.checkpoint). ``game``/``size``: insist on them. One-line ``ValueError``s."""
    ck = checkpoint.load(path, kind="alphazero")
    where = ck["path"]
    try:
        cfg = TrainConfig.from_dict(ck["config"])
        net = new_net(cfg)
        net.load_state_dict(ck["weights"])
    except (TypeError, KeyError, RuntimeError, ValueError) as e:
        raise ValueError(f"{where}: the weights do not fit the network its config names "
                         f"({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    if game is not None and (cfg.game, cfg.size) != (game, size):
        raise ValueError(f"{where} was trained on {cfg.game} {cfg.size}x{cfg.size}, not {game} {size}x{size}")
    net.eval()
    return net, cfg, ck


def net_evaluator(net, game, size, inference="torch", device="cpu", batch=64, seed=0, log=None, strict=True,
                  **game_kwargs):
    """``net`` as a search evaluator under ``inference`` (agents.alphazero.inference), checked against
    fp32 on 256 positions of random ``game`` games first (``strict=False``: a training run's evaluator, which
    falls back to eager torch rather than refuse)."""
    sample = sample_positions(game, size, 256, seed=seed, inputs=getattr(net, "inputs", "basic"), **game_kwargs)
    return NetEvaluator(net, inference, device, sample=sample, batch=batch, log=log, strict=strict)


def net_agent(net, simulations, seed=0, evaluator=None):
    """The trained network with a deterministic Gumbel search (no noise), as used in gauntlets;
    ``evaluator``: the net already wrapped by :func:`net_evaluator` (then ``net`` may be None; default:
    eager fp32 on the net's device)."""
    ev = evaluator if evaluator is not None else NetEvaluator(net, "torch", next(net.parameters()).device.type)
    return MCTSAgent(ev, simulations=simulations, seed=seed, root="gumbel", gumbel_scale=0.0)


def anchor_agent(spec, seed=0):
    """A fixed opponent of the training gauntlets: a baseline spec (``random``, ``greedy``, ``mcts:N``)."""
    if not is_baseline(spec):
        raise ValueError(f"unknown anchor {spec!r}; use random, greedy or mcts:N")
    return make_baseline(spec, seed=seed)


def snapshot(net):
    """A frozen copy of ``net`` in eval mode (a deep copy: building a new net would draw from torch's
    RNG, and a resumed run must draw exactly what the uninterrupted one would)."""
    return copy.deepcopy(net).eval()


def _training_evaluator(cfg, net, step):
    # The device is the learner's; ``cfg.inference`` the backend the run resolved once at its start
    # (agents.alphazero.train), so a gauntlet never times candidates again.
    return net_evaluator(net, cfg.game, cfg.size, cfg.inference, next(net.parameters()).device.type,
                         batch=max(2, cfg.eval_games), seed=cfg.seed + step, strict=False, **cfg.game_kwargs())


def openings(cfg, games, seed):
    """The balanced openings of a run's matches of ``games`` games (one per pair of games)."""
    return balanced_openings(cfg.game, cfg.size, (games + 1) // 2, OPENING_PLIES[cfg.game], seed, fewer=True,
                             **cfg.game_kwargs())


def gauntlet(cfg, net, step, earlier=None):
    """The current net against every anchor, and against ``earlier`` (the net of the previous
    gauntlet, as anchor ``previous``) when given; returns {anchor: score in [0, 1]}."""
    ev = _training_evaluator(cfg, snapshot(net), step)
    opponents = [(spec, anchor_agent(spec, seed=step + i)) for i, spec in enumerate(cfg.anchors)]
    if earlier is not None:
        opponents.append(("previous", net_agent(earlier, cfg.eval_simulations, step - 1,
                                                _training_evaluator(cfg, earlier, step))))
    out = {}
    for i, (name, agent) in enumerate(opponents):
        s = match(net_agent(None, cfg.eval_simulations, step + i, ev), agent, cfg.game, cfg.size, cfg.eval_games,
                  seed=cfg.seed + step + i, openings=openings(cfg, cfg.eval_games, cfg.seed), **cfg.game_kwargs())
        out[name] = float((s + 1).mean() / 2)
    return out


def gate(cfg, net, best, step):
    """Score of the candidate ``net`` against the ``best`` weights (the ones self-play uses)."""
    s = match(net_agent(None, cfg.eval_simulations, step, _training_evaluator(cfg, snapshot(net), step)),
              net_agent(None, cfg.eval_simulations, step + 1, _training_evaluator(cfg, best, step)),
              cfg.game, cfg.size, cfg.gate_games, seed=cfg.seed + step,
              openings=openings(cfg, cfg.gate_games, cfg.seed), **cfg.game_kwargs())
    return float((s + 1).mean() / 2)


def elo_difference(score, games):
    """Elo difference implied by a match score, clipped to what ``games`` games can show."""
    p = min(max(score, 0.5 / games), 1 - 0.5 / games)
    return 400.0 * math.log10(p / (1 - p))


def evaluate(ckpt_path, against, games, simulations=32, seed=12345, inference="torch", device="cpu"):
    """{anchor: {"wins", "draws", "losses", "score", "ci95"}} for the checkpoint's net (Gumbel search,
    no noise) against each anchor, from balanced openings each played with both colours; ``inference``, ``device``: how the net runs
    (its check against fp32 is in ``out["inference"]``)."""
    net, cfg, ck = load_net(ckpt_path)
    agents = [anchor_agent(spec, seed=seed + i) for i, spec in enumerate(against)]  # bad specs fail before play
    ev = net_evaluator(net, cfg.game, cfg.size, inference, device, batch=max(2, games), seed=seed, **cfg.game_kwargs())
    out = {"checkpoint": ck["path"], "step": ck["step"], "game": cfg.game, "size": cfg.size,
           "simulations": simulations, "inference": ev.report}
    for i, (spec, anchor) in enumerate(zip(against, agents)):
        s = match(net_agent(None, simulations, seed + i, ev), anchor, cfg.game, cfg.size, games,
                  seed=seed + i, openings=openings(cfg, games, seed), **cfg.game_kwargs())
        w, d, l = int((s > 0).sum()), int((s == 0).sum()), int((s < 0).sum())
        lo, hi = wilson(w + 0.5 * d, games)
        out[spec] = {"wins": w, "draws": d, "losses": l, "score": round((w + 0.5 * d) / games, 3),
                     "ci95": [round(lo, 3), round(hi, 3)]}
    return out
