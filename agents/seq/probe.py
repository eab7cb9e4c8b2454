"""World-model probes: does the GPT's residual stream encode the board it was never shown?

    arena probe --ckpt runs/seq_othello8 [--games 3000] [--out runs/seq_othello8/probe]

For held-out games, every prefix is replayed by our rules engine to get the board after it. A probe per
layer (the embedding output is layer 0) maps the residual vector at that position to every square's state:
- ``relative``: empty / mine / theirs, relative to the side to move next (Nanda et al. 2023);
- ``absolute``: empty / black / white (the contrast where linear probes failed for Othello-GPT).
Probes are linear (softmax regression) or a 2-layer MLP (hidden 256), trained with Adam on 80% of the
games and scored on the other 20% (split by game, so no position of a test game is seen in training).
The report gives per-layer accuracy over squares and positions, the majority-class baseline, a JSON file
and a PNG.
"""

import json
import os

import numpy as np
import torch
from torch import nn

from agents.common.tokenizer import is_move
from agents.common.transcripts import Dataset
from agents.seq.legal import replay_prefixes
from agents.seq.load import checkpoint_data, checkpoint_tokenizer, load_gpt


def collect(model, tok, rows, device="cpu", batch=256):
    """Residuals ``float32[L+1, P, d]`` and labels ``int64[P, N*N]`` (relative, absolute) over every live
    prefix P of ``rows``, with ``game_index[P]``."""
    _, cells, to_play = replay_prefixes(tok, rows, boards=True)
    live = np.ones(rows.shape, bool)  # a prefix ending in a move (or BOS alone): its board is defined
    live[:, 1:] = is_move(rows[:, 1:])
    feats = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(rows), batch):
            _, resid = model(torch.from_numpy(rows[i:i + batch]).to(device), return_residuals=True)
            feats.append(torch.stack(resid).float().cpu().numpy())  # [L+1, b, T, d]
    feats = np.concatenate(feats, axis=1)
    b_idx, t_idx = np.nonzero(live)
    x = feats[:, b_idx, t_idx]  # [L+1, P, d]
    board = cells[b_idx, t_idx].reshape(len(b_idx), -1).astype(np.int64)  # +1 black, -1 white, 0 empty
    absolute = np.where(board == 1, 1, np.where(board == -1, 2, 0))
    me = np.where(to_play[b_idx, t_idx] == 0, 1, -1)[:, None]  # the side to move next
    relative = np.where(board == 0, 0, np.where(board == me, 1, 2))
    return x, {"relative": relative, "absolute": absolute}, b_idx


def fit_probe(x_tr, y_tr, x_te, y_te, squares, kind="linear", epochs=8, seed=0, device="cpu"):
    """Accuracy on the test positions of a probe trained on the training positions."""
    torch.manual_seed(seed)
    d = x_tr.shape[1]
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-6  # standardise: one learning rate suits every layer
    net = nn.Linear(d, squares * 3) if kind == "linear" else nn.Sequential(
        nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, squares * 3))
    net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3 if kind == "linear" else 1e-3, weight_decay=1e-5)
    X = torch.from_numpy((x_tr - mu) / sd).float().to(device)
    Y = torch.from_numpy(y_tr).to(device)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), 512):
            j = perm[i:i + 512]
            logits = net(X[j]).view(len(j), squares, 3)
            loss = nn.functional.cross_entropy(logits.reshape(-1, 3), Y[j].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        Xt = torch.from_numpy((x_te - mu) / sd).float().to(device)
        pred = net(Xt).view(len(Xt), squares, 3).argmax(-1).cpu().numpy()
    return float((pred == y_te).mean())


def probe(ckpt, games=3000, out=None, kinds=("linear", "mlp"), epochs=8, seed=0, log=print, device="cpu",
          rows=None):
    """Probe report of a GPT checkpoint on ``games`` held-out games of its dataset, or on ``rows`` (token
    rows in the checkpoint's own ids; a model trained by RL from scratch has no dataset)."""
    model, ck = load_gpt(ckpt, device)
    tok = checkpoint_tokenizer(ck)
    if rows is None:
        if not checkpoint_data(ck):
            raise ValueError(f"{ckpt} was trained without a dataset: give the games to probe on")
        rows = Dataset(checkpoint_data(ck)).rows("val", games)
    x, labels, game_of = collect(model, tok, rows, device)
    test = (game_of % 5) == 0  # a fifth of the games, whole
    squares = tok.size * tok.size
    report = {"checkpoint": ckpt, "step": ck["step"], "games": len(rows), "positions": len(game_of),
              "test_positions": int(test.sum()), "layers": int(x.shape[0]), "results": {}, "majority": {}}
    for name, y in labels.items():
        # The majority-class baseline: each square's most common label in training, scored on test.
        maj = np.array([np.bincount(y[~test, s], minlength=3).argmax() for s in range(squares)])
        report["majority"][name] = float((y[test] == maj[None]).mean())
        for kind in kinds:
            accs = []
            for layer in range(x.shape[0]):
                accs.append(fit_probe(x[layer][~test], y[~test], x[layer][test], y[test], squares, kind, epochs,
                                      seed, device))
                log(f"probe {kind:6s} {name:8s} layer {layer}: {100 * accs[-1]:.1f}%")
            report["results"][f"{kind}/{name}"] = accs
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "probe.json"), "w") as f:
            json.dump(report, f, indent=2)
        plot(report, os.path.join(out, "probe.png"))
    return report


def plot(report, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for key, accs in report["results"].items():
        kind, name = key.split("/")
        ax.plot(range(len(accs)), [100 * a for a in accs], marker="o", ls="-" if kind == "mlp" else "--",
                label=f"{kind}, {'empty/mine/theirs' if name == 'relative' else 'empty/black/white'}")
    for name, acc in report["majority"].items():
        ax.axhline(100 * acc, color="#aaa", lw=0.8, ls=":")
    ax.set_xticks(range(report["layers"]))
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel("square-state accuracy on held-out games, %")
    ax.set_title(f"board probes, step {report['step']} ({report['test_positions']} test positions)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path + ".tmp.png", dpi=110)
    plt.close(fig)
    os.replace(path + ".tmp.png", path)
