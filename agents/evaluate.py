"""Strength of a training checkpoint against fixed anchors, with 95% confidence intervals.

    arena eval --ckpt runs/othello6_az/checkpoints/step_00004000.pt --against greedy,mcts:200 --games 200
"""

import math

import numpy as np

from agents.match import anchor_agent, net_agent, play_match
from agents.train import game_kwargs, new_net
from agents.train_config import TrainConfig


def wilson(successes, n, z=1.96):
    """95% Wilson score interval of a proportion (draws count as half a success)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, centre - half), min(1.0, centre + half)


def load_net(ckpt_path):
    """``(net, cfg, checkpoint)`` from a training checkpoint, read once; a missing, truncated or foreign
    file is a ``ValueError`` of one line."""
    import torch

    try:
        ck = torch.load(ckpt_path, weights_only=False, map_location="cpu")
        cfg = TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in ck["config"].items()})
        net = new_net(cfg)
        net.load_state_dict(ck["weights"])
    except FileNotFoundError:
        raise ValueError(f"no checkpoint at {ckpt_path}") from None
    except Exception as e:  # a truncated file, or one that is not a training checkpoint
        raise ValueError(f"cannot read checkpoint {ckpt_path}: {type(e).__name__}: {e}") from None
    net.eval()
    return net, cfg, ck


def evaluate(ckpt_path, against, games, simulations=32, seed=12345):
    """{anchor: {"wins", "draws", "losses", "score", "ci95"}} for the checkpoint's net (Gumbel search,
    no noise) against each anchor, colours alternating."""
    net, cfg, ck = load_net(ckpt_path)
    out = {"checkpoint": str(ckpt_path), "step": ck["step"], "game": cfg.game, "size": cfg.size,
           "simulations": simulations}
    for i, spec in enumerate(against):
        s = play_match(net_agent(net, simulations, seed=seed + i), anchor_agent(spec, seed=seed + i), cfg.game,
                       cfg.size, games, seed=seed + i, **game_kwargs(cfg))
        w, d, l = int((s > 0).sum()), int((s == 0).sum()), int((s < 0).sum())
        lo, hi = wilson(w + 0.5 * d, games)
        out[spec] = {"wins": w, "draws": d, "losses": l, "score": round((w + 0.5 * d) / games, 3),
                     "ci95": [round(lo, 3), round(hi, 3)]}
    return out
