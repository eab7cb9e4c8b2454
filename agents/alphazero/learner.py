"""One AlphaZero learner step: a random dihedral symmetry per sample, policy cross-entropy against the
search targets plus value mean-squared error.

    loss = -sum(pi * log_softmax(logits)) + value_weight * (v - z)^2,  averaged over the batch
"""

import numpy as np
import torch
import torch.nn.functional as F

from envs import symmetry


def augment(obs, policy, rng):
    """Apply an independent random symmetry to each sample: obs [B, C, N, N], policy [B, A]."""
    n = obs.shape[-1]
    ks = rng.integers(0, symmetry.NUM_SYMMETRIES, size=obs.shape[0])
    obs_out, pol_out = np.empty_like(obs), np.empty_like(policy)
    for k in np.unique(ks):
        idx = np.flatnonzero(ks == k)
        obs_out[idx] = symmetry.apply_board(obs[idx], int(k))
        pol_out[idx] = symmetry.apply_actions(policy[idx], int(k), n)
    return obs_out, pol_out


def train_step(net, optimizer, obs, policy, value, rng, value_weight=1.0, device="cpu"):
    """One gradient step on a numpy batch; returns {"loss", "policy_loss", "value_loss"} as floats. On
    CUDA the forward pass runs under bf16 autocast (the weights and the optimizer stay fp32)."""
    obs, policy = augment(obs, policy, rng)
    x = torch.from_numpy(obs).to(device)
    pi = torch.from_numpy(policy).to(device)
    z = torch.tensor(value, device=device)  # a copy: arrays from Ray are read-only
    net.train()
    with torch.autocast("cuda", torch.bfloat16, enabled=x.is_cuda):
        logits, v = net(x)
    logits, v = logits.float(), v.float()
    policy_loss = -(pi * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    value_loss = F.mse_loss(v, z)
    loss = policy_loss + value_weight * value_loss
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"loss": loss.item(), "policy_loss": policy_loss.item(), "value_loss": value_loss.item()}
