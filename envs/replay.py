"""Replaying game records: the moves a transcript writes, with Othello's implied passes put back.

An Othello transcript (``f5d6c3...``, WTHOR, the sequence model's tokens) writes only disc moves: a side
with no legal move passes, and the record leaves that pass out, since it could not have been anything
else. Go records write their passes (a Go pass is a choice), so nothing is implied there. Every replay
of a record goes through :func:`replay`, which plays the implied passes in between:

    g = make_batch("othello", B, 8)
    for p in replay(g, moves, lengths):   # moves int[B, L], lengths int[B]
        ...                               # read g at position p.t of the games p.at; do not step it

    actions, n, written = with_passes(make_batch("othello", B, 8), moves, lengths)   # explicit histories
    written_move_colours(actions[b, :n[b]], "othello", 8)                           # who wrote each move
"""

from typing import NamedTuple

import numpy as np


def implied_passes(batch, legal=None):
    """``bool[B]``: the games of ``batch`` (an ``envs.core`` batch) whose next move is a pass that a
    record leaves out. Othello: the game runs and its side to move has no disc move (pass is then its
    only legal action). Go: none. ``legal: bool[B, A]``, the batch's legal mask, saves computing it."""
    if batch.game != "othello":
        return np.zeros(batch.batch_size, bool)
    if legal is None:
        legal = batch.legal_mask()
    # A finished game's row is all false (pass included), so it is never asked to pass.
    return legal[:, batch.pass_action] & ~legal[:, : batch.pass_action].any(axis=1)


class Position(NamedTuple):
    """What :func:`replay` yields before written move ``t`` (``t`` = 0 .. L)."""

    t: int
    at: np.ndarray       # bool[B]: games standing here, every written move before t played
    passed: np.ndarray   # bool[B]: games whose implied pass was played just now, on the way here
    move: np.ndarray     # int64[B]: the written move t each game plays next; -1 where none is played
    refused: np.ndarray  # bool[B]: games still running whose written move t the rules refuse (they stop)
    legal: np.ndarray    # bool[B, A]: the legal mask here; all false for games not standing here


def replay(batch, moves, lengths, strict=False):
    """Replay B records in lockstep, one written move at a time, playing Othello's implied passes.

    batch:   an ``envs.core`` batch of B fresh games (the caller makes it, with its size and komi);
             it is stepped in place
    moves:   int[B, L]: game b's written moves are ``moves[b, :lengths[b]]`` (actions ``r*N + c``;
             Go's passes ``N*N`` are written moves too); the rest is ignored
    lengths: int[B]
    strict:  a written move the rules refuse, in a running game, raises ValueError (the game, the
             move's number and the position); otherwise that game stops there (``Position.refused``)

    Yields a :class:`Position` for t = 0 .. L. Before it, every game still going has played its written
    move t - 1 and then the implied pass that follows, if any: the position is the one whose side to
    move writes move t (for t = ``lengths[b]``, the position after the whole record). A game leaves
    ``at`` after the position where it ends, where its record ends, or where its move is refused; moves
    written after a game's end are never played. The caller reads the batch between yields (masks,
    observations, cells) and must not step it.
    """
    B, L = moves.shape
    lengths = np.asarray(lengths)
    A = batch.num_actions
    at = np.ones(B, bool)
    none = np.full(B, -1, np.int64)
    for t in range(L + 1):
        if not at.any():  # every game has left: nothing to read or play
            yield Position(t, at.copy(), np.zeros(B, bool), none.copy(), np.zeros(B, bool), np.zeros((B, A), bool))
            continue
        legal = batch.legal_mask()
        passed = at & implied_passes(batch, legal)
        if passed.any():
            batch.step_where(passed, np.full(B, batch.pass_action))
            legal = batch.legal_mask()
        legal[~at] = False
        due = at & ~batch.terminal & (t < lengths)
        written = moves[:, min(t, L - 1)].astype(np.int64) if L else none
        ok = due & (written >= 0) & (written < A)
        ok[ok] = legal[ok, written[ok]]
        refused = due & ~ok
        if strict and refused.any():
            b = int(np.flatnonzero(refused)[0])
            who = "black" if batch.to_play[b] == 0 else "white"
            raise ValueError(f"game {b}: written move {t + 1} ({batch.move_str(int(written[b]))}) is not legal "
                             f"for {who}; position:\n{batch.render(b)}")
        move = np.where(ok, written, -1)
        yield Position(t, at.copy(), passed, move, refused, legal)
        batch.step_where(ok, np.where(ok, written, 0))
        at = ok


def with_passes(batch, moves, lengths):
    """The records' histories with every pass written, from a replay in ``batch`` (B fresh games).

    ``moves: int[B, L]``, ``lengths: int[B]`` as for :func:`replay`. Returns

        actions: int16[B, L2]   game b's history in ``actions[b, :n[b]]``, passes included; -1 after it
        n:       int32[B]       history lengths
        written: int32[B]       written moves played

    A pass is put back where a written move follows it, so a record that stops at a forced pass leaves
    it implied. ``written[b] < lengths[b]`` where game b's move ``written[b]`` was refused or came after
    the game's end; its history then holds what was played before that move (its implied pass included).
    """
    B, L = moves.shape
    lengths = np.asarray(lengths)
    out = np.full((B, 2 * L + 1), -1, np.int16)
    n = np.zeros(B, np.int32)
    written = np.zeros(B, np.int32)
    rows = np.arange(B)
    for p in replay(batch, moves, lengths):
        put = p.passed & (p.t < lengths)
        out[rows[put], n[put]] = batch.pass_action
        n += put
        go = p.move >= 0
        out[rows[go], n[go]] = p.move[go]
        n += go
        written += go
    return out[:, : max(int(n.max(initial=0)), 1)], n, written


def written_move_colours(history, game, size):
    """``int8[M]``: the colour (0 black, 1 white) of each move a record writes, in order, from a
    ``history`` of actions with every pass explicit (as played, or from :func:`with_passes`) that starts
    from the initial position. Every action, a pass included, hands the move to the other side, so
    action i is black's when i is even; Othello's passes are not written, Go's are."""
    h = np.asarray(history, np.int64).reshape(-1)
    colour = (np.arange(h.size) % 2).astype(np.int8)
    return colour[h != size * size] if game == "othello" else colour
