"""Conformance test that every game and size must pass (in the spirit of pgx's ``api_test``).

``api_test(make, batch_size=8, seed=0)`` plays random games single and batched and checks shapes and dtypes,
that the legal mask is never empty while a game runs and all false after it, that illegal and
after-the-end actions raise and leave the state untouched, that rewards are zero until the end and in
{-1, 0, 1} after it, that the ply count never passes ``2*N*N`` (Go's cap; Othello ends sooner), and that a seed gives the same
games twice. ``make(batch_size, seed)`` returns a fresh ``envs.core.GameBatch``.
"""

import numpy as np


def _play_random(make, batch_size, seed, max_steps):
    g = make(batch_size, seed)
    B, A = g.batch_size, g.num_actions
    trace = []
    for _ in range(max_steps):
        if g.terminal.all():
            break
        mask = g.legal_mask()
        assert mask.shape == (B, A) and mask.dtype == np.bool_
        assert (mask.any(1) == ~g.terminal).all(), "a running game must have a legal action; a finished one none"
        obs = g.observation()
        assert obs.shape == (B, *g.obs_shape) and obs.dtype == np.float32
        assert np.isin(obs, (0.0, 1.0)).all()
        r = g.reward()
        assert r.shape == (B,) and r.dtype == np.float32 and (r[~g.terminal] == 0).all()
        assert g.to_play.shape == (B,) and set(np.unique(g.to_play)) <= {0, 1}
        # Finished games would raise on any action, so run only the live ones.
        live = np.flatnonzero(~g.terminal)
        sub = g.take(live)
        acts = sub.random_actions()
        assert (acts >= 0).all()
        sub.step(acts)
        g.put(live, sub)
        trace.append(g.i16.copy())
    r = g.reward()
    assert set(np.unique(r[g.terminal])) <= {-1.0, 0.0, 1.0}
    return g, trace


def api_test(make, batch_size=8, seed=0, max_steps=2000):
    """Run every check; raises AssertionError with a message on the first failure."""
    g, trace1 = _play_random(make, batch_size, seed, max_steps)
    assert g.terminal.all(), "random games must end"
    n = g.size
    assert (g.ply <= 2 * n * n).all(), "no game may run past 2*N*N plies"
    _, trace2 = _play_random(make, batch_size, seed, max_steps)
    assert len(trace1) == len(trace2) and all((a == b).all() for a, b in zip(trace1, trace2)), \
        "the same seed must give the same games"
    # single game path
    _play_random(make, 1, seed + 1, max_steps)
    # an illegal action raises and changes nothing
    h = make(2, seed)
    h.step(h.random_actions())  # after a move, some action is illegal in every game
    mask = h.legal_mask()
    bad = np.array([int(np.flatnonzero(~mask[0])[0]), int(np.flatnonzero(mask[1])[0])])
    before = (h.i16.copy(), h.u64.copy())
    try:
        h.step(bad)
        raise AssertionError("an illegal action must raise ValueError")
    except ValueError as e:
        assert "illegal" in str(e) and h.move_str(bad[0]) in str(e)
    assert (h.i16 == before[0]).all() and (h.u64 == before[1]).all(), "a rejected step must change nothing"
    # stepping a finished game raises
    try:
        g.take([0]).step([0])
        raise AssertionError("stepping a finished game must raise ValueError")
    except ValueError as e:
        assert "over" in str(e)
    # out-of-range actions raise
    for a in (-1, g.num_actions):
        try:
            make(1, seed).step([a])
            raise AssertionError(f"action {a} must raise")
        except ValueError:
            pass
