"""Bradley-Terry (Elo-scale) ratings by maximum likelihood, with a first-mover term and 95% intervals.

Model: black's expected score against white is ``1 / (1 + 10 ** (-(r_black - r_white + h) / 400))``, where
``h`` is the first mover's advantage in Elo. Draws count as half a win for each side (the score enters
the Bernoulli likelihood as 0.5). One player is anchored at a fixed rating (``random = 0``).

A player who won or lost every game has no finite maximum-likelihood rating, so every pair that met
also gets ``prior_draws`` virtual draws, colour-neutral (BayesElo's device); the report states it.
Intervals come from the inverse Hessian of the log-likelihood (the observed Fisher information) at the
optimum, with the anchor fixed; "likelihood of superiority" is ``P(r_i > r_j)`` under that normal
approximation.
"""

import math

import numpy as np

K = math.log(10) / 400  # Elo points -> natural logit


def fit(games, players, anchor, anchor_rating=0.0, prior_draws=1.0, first_mover=True):
    """``games``: iterable of ``(black, white, score)`` with score black's result in {1, 0.5, 0}.
    Returns a dict: ratings {name: Elo}, stderr {name: Elo}, cov (Elo^2, players order), first_mover
    (Elo, stderr), players, prior_draws, games."""
    players = list(players)
    if anchor not in players:
        raise ValueError(f"anchor {anchor!r} is not a player ({', '.join(players)})")
    idx = {p: i for i, p in enumerate(players)}
    rows = [(idx[b], idx[w], float(s), 1.0) for b, w, s in games]
    if not rows:
        raise ValueError("no finished games to rate")
    met = {tuple(sorted((b, w))) for b, w, _, _ in rows}
    check_connected(players, met, anchor)
    n = len(players)
    bi = np.array([r[0] for r in rows]); wi = np.array([r[1] for r in rows])
    sc = np.array([r[2] for r in rows]); hw = np.ones(len(rows))  # first-mover term applies
    if prior_draws > 0:
        pb = np.array([a for a, b in met]); pw = np.array([b for a, b in met])
        bi, wi = np.concatenate([bi, pb]), np.concatenate([wi, pw])
        sc = np.concatenate([sc, np.full(len(met), 0.5)])
        hw = np.concatenate([hw, np.zeros(len(met))])
        wt = np.concatenate([np.ones(len(rows)), np.full(len(met), prior_draws)])
    else:
        wt = np.ones(len(rows))
    free = [i for i in range(n) if players[i] != anchor]
    m = len(free) + (1 if first_mover else 0)
    # Design matrix over the free parameters (logit scale): +1 black, -1 white, h for real games.
    X = np.zeros((len(sc), m))
    col = {p: j for j, p in enumerate(free)}
    for r in range(len(sc)):
        if bi[r] in col:
            X[r, col[bi[r]]] += 1
        if wi[r] in col:
            X[r, col[wi[r]]] -= 1
    if first_mover:
        X[:, -1] = hw
    offset = np.zeros(len(sc))  # the anchor's rating is 0 on the logit scale; shifted at the end
    theta = np.zeros(m)
    for _ in range(100):  # Newton's method on a concave log-likelihood
        z = X @ theta + offset
        p = 1 / (1 + np.exp(-z))
        grad = X.T @ (wt * (sc - p))
        hess = (X * (wt * p * (1 - p))[:, None]).T @ X
        step = np.linalg.solve(hess + 1e-9 * np.eye(m), grad)
        theta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    z = X @ theta
    p = 1 / (1 + np.exp(-z))
    cov = np.linalg.inv((X * (wt * p * (1 - p))[:, None]).T @ X) / K**2
    ratings, stderr = {}, {}
    full_cov = np.zeros((n, n))
    for p_, i in idx.items():
        if p_ == anchor:
            ratings[p_], stderr[p_] = anchor_rating, 0.0
        else:
            j = col[i]
            ratings[p_] = float(theta[j] / K + anchor_rating)
            stderr[p_] = float(math.sqrt(cov[j, j]))
            for q_, k in idx.items():
                if q_ != anchor:
                    full_cov[i, k] = cov[j, col[k]]
    out = {"players": players, "ratings": ratings, "stderr": stderr, "cov": full_cov.tolist(), "anchor": anchor,
           "anchor_rating": anchor_rating, "prior_draws": prior_draws, "games": len(rows)}
    if first_mover:
        out["first_mover"] = (float(theta[-1] / K), float(math.sqrt(cov[-1, -1])))
    return out


def check_connected(players, met, anchor):
    """Every player must be linked to the anchor by games, or its rating is not defined."""
    seen, todo = {players.index(anchor)}, [players.index(anchor)]
    while todo:
        i = todo.pop()
        for a, b in met:
            for x, y in ((a, b), (b, a)):
                if x == i and y not in seen:
                    seen.add(y)
                    todo.append(y)
    lost = [players[i] for i in range(len(players)) if i not in seen]
    if lost:
        raise ValueError(f"no games link {', '.join(lost)} to the anchor {anchor!r}: their ratings are undefined")


def los(fitres, a, b):
    """Likelihood of superiority: P(rating a > rating b) under the fitted normal approximation."""
    i, j = fitres["players"].index(a), fitres["players"].index(b)
    c = np.array(fitres["cov"])
    var = c[i, i] + c[j, j] - 2 * c[i, j]
    d = fitres["ratings"][a] - fitres["ratings"][b]
    if var <= 0:
        return 0.5 if d == 0 else float(d > 0)
    return 0.5 * (1 + math.erf(d / math.sqrt(2 * var)))


def expected_score(diff):
    """Expected score of a player rated ``diff`` Elo above its opponent (no first-mover term)."""
    return 1 / (1 + 10 ** (-diff / 400))
