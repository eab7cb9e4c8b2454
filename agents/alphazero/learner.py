"""One AlphaZero learner step: a random dihedral symmetry per sample, policy cross-entropy against the
search targets plus value mean-squared error, and, for a net with the auxiliary heads, KataGo's
ownership and score targets:

    loss = -sum(pi * log_softmax(logits)) + value_weight * (v - z)^2
           + ownership_weight * mean over points (o - o*)^2 + score_weight * (s - s*)^2,  averaged over the batch
"""

import numpy as np
import torch
import torch.nn.functional as F

from envs import symmetry


def augment(obs, policy, rng, ownership=None):
    """Apply an independent random symmetry to each sample: obs [B, C, N, N], policy [B, A], and the
    ownership targets [B, N*N] (the same symmetry as their sample) when given."""
    n = obs.shape[-1]
    ks = rng.integers(0, symmetry.NUM_SYMMETRIES, size=obs.shape[0])
    obs_out, pol_out = np.empty_like(obs), np.empty_like(policy)
    own_out = None if ownership is None else np.empty((len(obs), n, n), np.float32)
    for k in np.unique(ks):
        idx = np.flatnonzero(ks == k)
        obs_out[idx] = symmetry.apply_board(obs[idx], int(k))
        pol_out[idx] = symmetry.apply_actions(policy[idx], int(k), n)
        if ownership is not None:
            own_out[idx] = symmetry.apply_board(ownership[idx].reshape(-1, n, n).astype(np.float32), int(k))
    return (obs_out, pol_out) if ownership is None else (obs_out, pol_out, own_out)


def train_step(net, optimizer, obs, policy, value, rng, value_weight=1.0, device="cpu", aux=None,
               ownership_weight=0.0, score_weight=0.0):
    """One gradient step on a numpy batch; returns {"loss", "policy_loss", "value_loss"} as floats (and
    "ownership_loss", "score_loss" with ``aux``: ``(ownership int8[B, N*N], score float32[B])`` targets
    from the side to move, the score over the number of points). On CUDA the forward pass runs under
    bf16 autocast (the weights and the optimizer stay fp32)."""
    if aux is not None:
        obs, policy, own = augment(obs, policy, rng, aux[0])
    else:
        obs, policy = augment(obs, policy, rng)
    x = torch.from_numpy(obs).to(device)
    pi = torch.from_numpy(policy).to(device)
    z = torch.tensor(value, device=device)  # a copy: arrays from Ray are read-only
    net.train()
    with torch.autocast("cuda", torch.bfloat16, enabled=x.is_cuda):
        out = net.forward_aux(x) if aux is not None else net(x)
    logits, v = out[0].float(), out[1].float()
    policy_loss = -(pi * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    value_loss = F.mse_loss(v, z)
    loss = policy_loss + value_weight * value_loss
    extra = {}
    if aux is not None:
        ownership_loss = F.mse_loss(out[2].float(), torch.from_numpy(own).to(device))
        score_loss = F.mse_loss(out[3].float(), torch.tensor(aux[1], device=device))
        loss = loss + ownership_weight * ownership_loss + score_weight * score_loss
        extra = {"ownership_loss": ownership_loss.item(), "score_loss": score_loss.item()}
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"loss": loss.item(), "policy_loss": policy_loss.item(), "value_loss": value_loss.item(), **extra}
