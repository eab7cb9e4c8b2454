"""Leaf evaluators: one small interface for every way of judging a position.

    evaluate(obs, mask, leaves) -> (priors float32[B, A], values float32[B])

``obs: float32[B, C, N, N]`` (side-to-move relative, or None when ``needs_observation`` is False),
``mask: bool[B, A]`` legal actions, ``leaves``: the ``envs.core`` batch holding the leaf states (read
only; an evaluator that plays on must copy it). Priors need not be normalised or masked (the search
masks and renormalises them); values are in [-1, 1] from the view of the side to move at each leaf.
Rows of finished games are ignored by the search.
"""

import numpy as np

from envs import rng as _rng


def observe(evaluator, games):
    """The ``obs`` an evaluator reads for a batch ``games``: the batch's observation in the evaluator's
    ``inputs`` set, or None when it needs none (any object with ``evaluate`` may be an evaluator)."""
    if not getattr(evaluator, "needs_observation", True):
        return None
    return games.observation(getattr(evaluator, "inputs", "basic"))


class Evaluator:
    needs_observation = True
    inputs = "basic"  # the observation planes ``obs`` holds (envs.core; a network's own set)

    def evaluate(self, obs, mask, leaves):
        raise NotImplementedError


class UniformEvaluator(Evaluator):
    """Uniform priors over legal actions and value 0: what is left is the cost of the tree itself."""

    needs_observation = False

    def evaluate(self, obs, mask, leaves):
        # Equal weights are enough: the search normalises priors over the legal actions.
        return mask.astype(np.float32), np.zeros(mask.shape[0], np.float32)


class RolloutEvaluator(Evaluator):
    """Uniform priors; the value is the mean result of ``rollouts`` uniformly random games played to
    the end from the leaf, in Numba (classic pure MCTS). Seeded: the same seed gives the same values."""

    needs_observation = False

    def __init__(self, rollouts=1, seed=0):
        if not isinstance(rollouts, (int, np.integer)) or rollouts < 1:
            raise ValueError(f"rollouts must be a positive integer, got {rollouts!r}")
        self.rollouts = int(rollouts)
        self.seed = seed
        self.rng = None

    def evaluate(self, obs, mask, leaves):
        # One random stream per row, kept across calls: the search hands in only the leaves it needs, so
        # the batch size varies, and reseeding at each new size would replay the same rollouts.
        n = leaves.batch_size
        if self.rng is None or self.rng.shape[0] < n:
            grown = _rng.seed_states(self.seed, max(n, 2 * (0 if self.rng is None else self.rng.shape[0])))
            if self.rng is not None:
                grown[: self.rng.shape[0]] = self.rng  # streams already drawn from go on where they were
            self.rng = grown
        rng = self.rng[:n]  # a view: the kernel advances the kept streams in place
        sign = np.where(leaves.to_play == 0, 1.0, -1.0).astype(np.float32)
        total = np.zeros(n, np.float32)
        play = leaves.copy()
        for _ in range(self.rollouts):
            play.i16[:], play.u64[:] = leaves.i16, leaves.u64
            play.K.random_playouts(play.i16, play.u64, rng, play.geo)
            total += play.reward()
        return mask.astype(np.float32), sign * total / self.rollouts


class TorchEvaluator(Evaluator):
    """A PyTorch policy/value network as evaluator: ``model(obs) -> (logits [B, A], value [B])`` with
    values in [-1, 1] (tanh head). Runs batched under ``torch.inference_mode()``; illegal actions are
    masked before the softmax."""

    def __init__(self, model, device="cpu"):
        import torch  # here: the search and its rollout evaluators run without torch

        self.torch = torch
        self.model = model.to(device).eval()
        self.inputs = getattr(model, "inputs", "basic")
        self.device = torch.device(device)
        self.forward_positions = 0  # positions evaluated, search leaves included (compute accounting)

    def evaluate(self, obs, mask, leaves):
        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(obs).to(self.device)
            logits, value = self.model(x)
            self.forward_positions += len(obs)
            m = torch.from_numpy(mask).to(self.device)
            logits = logits.float().masked_fill(~m, -1e9)
            priors = torch.softmax(logits, dim=1).masked_fill(~m, 0.0)
            return priors.cpu().numpy(), value.float().reshape(-1).cpu().numpy()
