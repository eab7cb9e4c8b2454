"""What the agents of ``arena serve`` thought, and the threads and clocks they think under.

:func:`thinking` reads what an agent showed of its choice (a search's visit share, principal variation
and value; a net's policy head; a sequence model's next-move distribution) into the JSON the page draws;
:func:`search_work` and :func:`loads` read what an agent is by what it has. The rest runs agents:

Threads: an agent's move, analysis or warm-up runs in a daemon thread of its own (:func:`spawn`), at most
``workers`` at once (the hub's slots, arena.serve.hub); one asked for while all are busy is refused (503),
never queued, so a move's clock (:class:`Clock`) starts when its thread does and never counts a wait. A
search is stopped at its limit, when its game is dropped, or when the server stops: it checks its clock
before every call of its evaluator (:func:`checked`). Another agent (a net's policy head, a sequence
model: one call; a GTP engine: its own timeout) runs to its end and its result is dropped. Daemon threads
are not joined when the interpreter exits, so Ctrl-C stops the server whatever still runs.
"""

import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager

import numpy as np

COLOURS = ("black", "white")
MAX_WORK = 100_000        # simulations x rollouts per leaf of one move: a search's tree is preallocated to its
                          # simulations, and a typo must take neither the memory nor days of a worker
PV_LENGTH = 12            # moves of a principal variation shown
MIN_SHARE = 5e-4          # heat-map entries below this are left out of the JSON


# -- what an agent thought ---------------------------------------------------------------------------------

def thinking(agent, game, action, spec, seconds):
    """What ``agent`` showed of its choice of ``action`` in ``game`` (the position it chose in), as the
    page draws it, or None for a player that shows nothing (a GTP engine, random, greedy). It is read
    through the players' documented accessors, by what a player has rather than what it is:
    ``last_search`` and ``principal_variation`` (a search: ``az:`` and ``mcts:`` players), ``evaluate``
    (a net's policy head alone, ``az:...,sims=0``), ``distribution`` (a sequence model, ``seq:``)."""
    n = game.size
    names = [game.move_str(a) for a in range(n * n + 1)]
    legal = game.batch.legal_mask()[0]

    def sparse(values, digits=4):
        return {names[a]: round(float(v), digits) for a, v in enumerate(values) if v >= MIN_SHARE}

    info = {"agent": spec, "ply": len(game.history), "side": COLOURS[game.to_play], "move": names[action],
            "seconds": round(seconds, 3)}
    search = getattr(agent, "last_search", None)
    if search is not None:
        visits, policy, q = search.visits[0], search.policy[0], search.q[0]
        total = int(visits.sum())
        value = float(search.value[0])
        share = visits / total if total else policy
        info.update(kind="search", label="visit share", simulations=total, heat=sparse(share),
                    # a PUCT root's policy is its visit share: sent once; Gumbel's improved policy differs
                    policy=sparse(policy) if not np.allclose(policy, share, atol=1e-6) else None,
                    visits={names[a]: int(v) for a, v in enumerate(visits) if v > 0},
                    q={names[a]: round(float(q[a]), 4) for a in np.flatnonzero(visits > 0)},
                    pv=[names[a] for a, _ in agent.principal_variation(0, PV_LENGTH)])
    elif hasattr(agent, "evaluate"):
        priors, values = agent.evaluate(game)
        value = float(values[0])
        info.update(kind="policy", label="policy head", heat=sparse(priors[0]), pv=[names[action]])
    elif hasattr(agent, "distribution"):
        p = agent.distribution(game, legal_only=False)  # the raw model: what it predicts, legal or not
        value = None
        info.update(kind="sequence", label="next-move distribution", heat=sparse(p),
                    legal_mass=round(float(p[legal].sum()), 4), pv=[names[action]])
    else:
        return None
    if value is not None:
        win = (value + 1) / 2  # expected score of the side to move: a draw counts half
        info.update(value=round(value, 4), win=round(win, 4), black_win=round(win if game.to_play == 0 else 1 - win, 4))
    return info


# -- what an agent is, by what it has ----------------------------------------------------------------------

def search_work(agent):
    """``(simulations, rollouts per leaf)`` of one move of ``agent``'s search, read by what it has (a
    ``config.simulations``, an evaluator's ``rollouts``); ``(0, 1)`` for a player without a search."""
    sims = int(getattr(getattr(agent, "config", None), "simulations", 0) or 0)
    per_leaf = int(getattr(getattr(agent, "evaluator", None), "rollouts", 1) or 1)
    return sims, per_leaf


def loads(agent):
    """Whether ``agent``'s first move loads what later ones reuse (a search's Numba kernels, a net's or a
    sequence model's first call): a batch player with a search or a model, by what it has."""
    return agent.plays_batches and any(hasattr(agent, k) for k in ("last_search", "evaluate", "distribution"))


def too_much(spec, sims, per_leaf=1):
    if sims * per_leaf > MAX_WORK:
        return ValueError(f"bad agent spec {spec!r}: at most {MAX_WORK} simulations x rollouts per leaf a move "
                          f"here, not {sims} x {per_leaf} = {sims * per_leaf}")
    return None


# -- threads and clocks ------------------------------------------------------------------------------------

def spawn(fn, name="arena-serve", after=None):
    """Run ``fn()`` in a new daemon thread; its ``concurrent.futures.Future``. ``after()`` runs in that
    thread once ``fn`` ends, before the future is resolved (a worker's slot is free before its answer
    goes out). Daemon threads, not a pool's: the interpreter joins a ``ThreadPoolExecutor``'s threads
    at exit, so a search still running would keep a stopped server alive."""
    fut = Future()
    fut.set_running_or_notify_cancel()

    def work():
        try:
            result = fn()
        except BaseException as e:
            if after is not None:
                after()
            fut.set_exception(e)
        else:
            if after is not None:
                after()
            fut.set_result(result)

    threading.Thread(target=work, name=name, daemon=True).start()
    return fut


class Stopped(Exception):
    """A search stopped before its end; ``why``: ``"time"`` (past its limit), ``"dropped"`` (its game
    was dropped or the move given up) or ``"stopping"`` (the server stops)."""

    def __init__(self, why):
        super().__init__(why)
        self.why = why


class Clock:
    """A job's limit: ``seconds`` from :meth:`start` (when its thread starts, not when it was asked
    for), :meth:`cancel`, and the server's ``halt`` event. :meth:`check` raises :class:`Stopped` once
    any of them says stop."""

    def __init__(self, seconds, halt=None):
        self.seconds, self.halt = float(seconds), halt
        self.until = None
        self.cancelled = threading.Event()

    def start(self):
        self.until = time.monotonic() + self.seconds

    def left(self):
        """Seconds left: all of them before the job starts."""
        return self.seconds if self.until is None else self.until - time.monotonic()

    def cancel(self):
        self.cancelled.set()

    def check(self):
        if self.halt is not None and self.halt.is_set():
            raise Stopped("stopping")
        if self.cancelled.is_set():
            raise Stopped("dropped")
        if self.left() < 0:
            raise Stopped("time")


class _Checked:
    """A search's evaluator that checks a :class:`Clock` before every call and then defers to the
    evaluator it wraps (anything with ``evaluate``, agents.search.evaluators; its other attributes
    are the wrapped one's)."""

    def __init__(self, inner, check):
        self._inner, self._check = inner, check

    def evaluate(self, obs, mask, leaves):
        self._check()
        return self._inner.evaluate(obs, mask, leaves)

    def __getattr__(self, name):
        if name in ("_inner", "_check"):  # not set yet (a copy made without __init__)
            raise AttributeError(name)
        return getattr(self._inner, name)


@contextmanager
def checked(agent, clock):
    """While inside, ``agent``'s search (an ``mcts`` attribute with an ``evaluator``: az: and mcts:
    players) stops at its next leaf once ``clock`` says stop, raising :class:`Stopped` out of ``act``.
    The evaluator is the one point where agents.search hands control back in the middle of a search (it
    takes the evaluator as a strategy); agents/ has no stop flag of its own, so the search's evaluator
    is wrapped for the call and put back after. A player without such a search is left as it is."""
    search = getattr(agent, "mcts", None)
    inner = getattr(search, "evaluator", None)
    if inner is None or not hasattr(inner, "evaluate"):
        yield
        return
    search.evaluator = _Checked(inner, clock.check)
    try:
        yield
    finally:
        search.evaluator = inner


def wait(done, clock):
    """Wait for the Future ``done`` while ``clock`` has time left (from the job's own start); True if
    it ended in time."""
    while not done.done():
        left = clock.left()
        if left <= 0:
            return False
        try:
            done.result(timeout=left)
        except TimeoutError:
            continue
        except BaseException:
            return True
    return True

