"""Strength of a training checkpoint against fixed anchors, with 95% confidence intervals.

    arena eval --ckpt runs/othello6_az/checkpoints/step_00004000.pt --against greedy,mcts:200 --games 200
"""

import math

import numpy as np

from agents.match import anchor_agent, net_agent, play_match
from agents.train import game_kwargs, load_checkpoint, new_net
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


def evaluate(ckpt_path, against, games, simulations=32, seed=12345):
    """{anchor: {"wins", "draws", "losses", "score", "ci95"}} for the checkpoint's net (Gumbel search,
    no noise) against each anchor, colours alternating."""
    import torch

    ck = torch.load(ckpt_path, weights_only=False)
    cfg = TrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in ck["config"].items()})
    load_checkpoint(ckpt_path, cfg)
    net = new_net(cfg)
    net.load_state_dict(ck["weights"])
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
