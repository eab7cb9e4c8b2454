"""The games of ``arena serve``: each browser tab's game (a person against an agent, two agents, or two
people), the agents built from specs, what their searches thought, and the threads they think in.

    hub = Hub(seed=0, move_timeout=60.0, workers=4)
    s = hub.create({"game": "othello", "size": 8, "black": "human", "white": "az:othello8"})
    s.move("f5")                            # the person's move
    job, done = hub.launch(s, "move")       # the agent's reply, in a thread of its own (done: a Future)
    done.result(); s.state()                # the JSON the page draws

Every call that the page's input reaches refuses bad input with :class:`Refused`: an HTTP status and one
line, which the app sends as ``{"error": ...}``. A session changes only under its lock; an agent thinks
outside it, on a copy of the position, holding its own side's lock, so the page can read the game while
the agent thinks and a second move of that agent waits for the first to end. A job whose position was
changed meanwhile (an undo, a resignation, a move that ran out of time) has its result dropped: the
session's ``generation`` counts the changes.

Threads: an agent's move, analysis or warm-up runs in a daemon thread of its own (:func:`spawn`), at most
``workers`` at once; one asked for while all are busy is refused (503), never queued, so a move's clock
(:class:`Clock`) starts when its thread does and never counts a wait. A search is stopped at its limit,
when its game is dropped, or when the server stops: it checks its clock before every call of its
evaluator (:func:`checked`). Another agent (a net's policy head, a sequence model: one call; a GTP
engine: its own timeout) runs to its end and its result is dropped. Daemon threads are not joined when
the interpreter exits, so Ctrl-C stops the server whatever still runs.

Determinism: a game has a seed (the server's ``--seed`` unless the request names one). Every agent that
plays batches (all but external GTP engines, which only their own flags seed) is reset with
:func:`move_seed` of (seed, ply) before it chooses, so the same seed and the same moves give the same
replies, after an undo or an analysis too. An ``az:`` spec under ``inference=auto`` (the shipped nets'
default) picks its backend by timing, once per server (the resolved spec is kept); name the backend
(``inference=torch``) for replies that are the same from one server run to the next as well.
"""

import logging
import math
import secrets
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from contextlib import contextmanager

import numpy as np

from agents.players import AgentError, Resign, number
from arena.specs import az_options, make_agent
from arena.tournament.records import result_string
from arena.tournament.viewer import board_string
from envs.game import Game

log = logging.getLogger("arena.serve")

HUMAN = "human"
COLOURS = ("black", "white")
SIZES = {"othello": (8, 6), "go": (9, 7, 5)}
"""The games and board sizes the page offers, the first of each its default."""
MAX_SPEC = 500            # characters of an agent spec
MAX_WORK = 100_000        # simulations x rollouts per leaf of one move: a search's tree is preallocated to its
                          # simulations, and a typo must take neither the memory nor days of a worker
PV_LENGTH = 12            # moves of a principal variation shown
MIN_SHARE = 5e-4          # heat-map entries below this are left out of the JSON
FIELDS = {"game", "size", "komi", "black", "white", "seed", "move_timeout", "replaces"}


class Refused(Exception):
    """A request the session cannot carry out: ``status`` (HTTP) and a one-line message."""

    def __init__(self, status, message):
        super().__init__(one_line(message))
        self.status = status


def one_line(text, limit=300):
    """The first line of ``text`` (an error's message may carry a drawn board below it), cut to ``limit``."""
    lines = str(text).strip().splitlines()
    line = lines[0].strip() if lines else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def move_seed(seed, ply):
    """The seed an agent is reset with before it chooses move ``ply`` of a game seeded ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(ply)]).generate_state(1)[0])


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


# -- one game ----------------------------------------------------------------------------------------------

class Side:
    """One side of a game: a person (``spec`` None) or an agent built from ``spec``."""

    def __init__(self, spec=None, agent=None):
        self.spec, self.agent = spec, agent
        self.lock = threading.Lock()  # held while the agent thinks, a move that ran out of time included

    @property
    def human(self):
        return self.spec is None

    @property
    def name(self):
        return HUMAN if self.human else self.spec

    def close(self):
        close = getattr(self.agent, "close", None)  # an external engine's process
        if close is not None:
            try:
                close()
            except Exception:  # the engine is gone already
                log.debug("closing %s failed", self.spec, exc_info=True)


class Job:
    """An agent's move or analysis, run in a thread of its own (:meth:`run`). It keeps the side it was
    begun for (``side``, whatever the session's sides are by the time it runs) and holds that side's
    lock from :meth:`Session.begin` until it ends; it always hands its result to the session, which
    drops it when the position changed meanwhile, and its :class:`Clock` starts when it does."""

    def __init__(self, session, kind, i, side, generation, game, seed, clock):
        self.session, self.kind, self.i, self.side = session, kind, i, side
        self.generation, self.game, self.seed, self.clock = generation, game, seed, clock

    def run(self):
        s, side = self.session, self.side
        self.clock.start()
        result = ("stopped", "dropped", None)
        try:
            if self.generation == s.generation:  # else dropped before it started
                result = self._think()
        except Stopped as e:
            result = ("stopped", e.why, None)
        except Exception as e:  # a bug or a broken model (in reset, act or reading its thinking)
            if self.generation == s.generation:  # told on the page, the traceback in the log
                log.exception("%s failed in game %s", side.spec, s.id)
            result = ("fail", f"{COLOURS[self.i]} ({side.spec}) failed: {type(e).__name__}: {one_line(e)}", None)
        finally:
            try:
                s.finish(self, result)
            finally:
                side.lock.release()

    def _think(self):
        side, g = self.side, self.game
        agent = side.agent
        if agent.plays_batches:
            agent.reset(move_seed(self.seed, len(g.history)))
        t0 = time.perf_counter()
        try:
            with checked(agent, self.clock):
                a = int(agent.act(g)[0])
        except Resign:
            return "resign", None, None
        except AgentError as e:
            return "fail", f"{COLOURS[self.i]} ({side.spec}) forfeits: {one_line(e)}", None
        return "move", a, thinking(agent, g, a, side.spec, time.perf_counter() - t0)


class Session:
    """One game of the page: the position, its boards, what the agents thought, how it ended."""

    def __init__(self, id, game, size, komi, sides, seed, move_timeout, halt=None):
        self.id, self.sides, self.seed, self.move_timeout = id, sides, seed, move_timeout
        self.halt = halt  # the server's stop: set, every search of this game stops
        self.key = (game, size, komi, move_timeout)  # as asked for: a game of the same key can reuse its agents
        self.g = Game(game, size, komi=komi)
        self.komi = self.g.batch.komi if game == "go" else None
        self.boards = [board_string(self.g)]  # after every ply: x black, o white, . empty (the viewer's)
        self.thinking = {}   # ply -> what the agent that played move ply thought (in the position before it)
        self.analysis = {}   # ply -> an agent's analysis of the position after ply moves (asked, not played)
        self.auto = set()    # plies that were a person's forced Othello pass, played for them
        self.end = None      # {"winner", "reason": "resign" | "forfeit", "message"}: a side gave up or failed
        self.job = None      # the Job thinking for this game (its move or analysis), until it ends or expires
        self.retired = False  # dropped from the hub: it takes no more requests
        self.generation = 0  # bumped by every change of the game: a job's late result is then dropped
        self.note = None     # the last thing worth telling the page (a forced pass, a late result)
        self.lock = threading.RLock()
        self.touched = time.monotonic()
        self._auto_pass()

    # -- reading -------------------------------------------------------------------------------------------
    @property
    def busy(self):
        """"move" or "analysis" while an agent thinks for this game, else None."""
        job = self.job
        return job.kind if job is not None else None

    @property
    def over(self):
        return self.g.terminal or self.end is not None

    def names(self):
        return [self.g.move_str(a) for a in range(self.g.size * self.g.size + 1)]

    def result(self):
        """``(text, winner)``: the SGF-style result (``B+12``, ``W+R``, ``0``) and "black", "white" or
        "draw"; ``(None, None)`` while the game goes on."""
        if self.end is not None:
            w = self.end["winner"]
            rec = {"reason": self.end["reason"], "result": 1 if w == 0 else 0, "margin": None}
            return result_string(rec), COLOURS[w]
        if not self.g.terminal:
            return None, None
        m = self.g.final_margin()
        return result_string({"reason": "end", "margin": m}), "draw" if m == 0 else COLOURS[0 if m > 0 else 1]

    def state(self):
        """The game as the page draws it (docs/serve.md lists the fields)."""
        with self.lock:
            g = self.g
            board = self.boards[-1]
            text, winner = self.result()
            mover = self.sides[g.to_play]
            return {
                "id": self.id, "game": g.game, "size": g.size, "komi": self.komi, "seed": self.seed,
                "players": {c: s.name for c, s in zip(COLOURS, self.sides)},
                "humans": [c for c, s in zip(COLOURS, self.sides) if s.human],
                "shows": [c for i, c in enumerate(COLOURS) if not self.sides[i].human and self.shows_thinking(i)],
                "names": self.names(), "ply": len(g.history), "to_play": COLOURS[g.to_play],
                "actions": list(g.history), "moves": [g.move_str(a) for a in g.history], "boards": list(self.boards),
                "auto": sorted(self.auto), "legal": [] if self.over else g.legal_moves(),
                "over": self.over, "result": text, "winner": winner,
                "reason": self.end["reason"] if self.end else ("end" if g.terminal else None),
                "message": self.end["message"] if self.end else self.note,
                "waiting": None if self.over else (HUMAN if mover.human else "agent"), "busy": self.busy,
                "score": {"black": board.count("x"), "white": board.count("o"), "margin": float(g.score())},
                "thinking": {str(k): v for k, v in self.thinking.items()},
                "analysis": {str(k): v for k, v in self.analysis.items()},
                "move_timeout": self.move_timeout,
            }

    def record(self):
        """The game as a file: ``(filename, media type, bytes)``; SGF for Go (``Game.to_sgf``, the result
        of a resignation or forfeit written in), the standard transcript for Othello."""
        with self.lock:
            g = self.g
            stem = f"{g.game}{g.size}-{self.id}"
            if g.game == "go":
                text, _ = self.result()
                sgf = g.to_sgf(self.sides[0].name, self.sides[1].name, result=text if self.end else None)
                return f"{stem}.sgf", "application/x-go-sgf", sgf
            return f"{stem}.txt", "text/plain; charset=utf-8", (g.transcript() + "\n").encode()

    # -- a person's moves ----------------------------------------------------------------------------------
    def move(self, move):
        """The person to move plays ``move`` (notation such as ``f5``/``D4``/``pass``, or an action number)."""
        with self.lock:
            self._ready()
            if not self.sides[self.g.to_play].human:
                raise Refused(409, f"it is {COLOURS[self.g.to_play]}'s turn, an agent's: ask it to move (POST "
                                   f"/api/games/{self.id}/step)")
            a = self._parse(move)
            legal = self.g.legal_actions()
            if a not in legal:
                what = "pass is not allowed here" if a == self.g.size ** 2 else "not legal here"
                shown = " ".join(self.g.move_str(x) for x in legal[:40]) + (" …" if len(legal) > 40 else "")
                raise Refused(400, f"illegal move {self.g.move_str(a)}: {what} (legal: {shown})")
            self.note = None
            self._play(a)

    def resign(self):
        """The person resigns (the side to move when both sides are people)."""
        with self.lock:
            self._live()
            if self.over:
                raise Refused(409, "the game is over")
            humans = [i for i, s in enumerate(self.sides) if s.human]
            if not humans:
                raise Refused(409, "no person plays in this game: nobody to resign")
            who = humans[0] if len(humans) == 1 else self.g.to_play
            self._end(1 - who, "resign", f"{COLOURS[who]} resigns")

    def undo(self):
        """Take back the last thing that happened: a resignation or forfeit; else the person's last move
        and the agent's reply (one move when no or both sides are people)."""
        with self.lock:
            self._live()
            if self.busy:
                raise Refused(409, f"an agent is thinking ({self.busy}): undo when it is done")
            if self.end is not None:
                self.end, self.note = None, None
                self.generation += 1
                return
            humans = [i for i, s in enumerate(self.sides) if s.human]
            h = self.g.history
            if len(humans) == 1:
                mine = [i for i in range(len(h)) if i % 2 == humans[0] and i not in self.auto]
                target = mine[-1] if mine else -1
            else:
                target = len(h) - 1
            if target < 0:
                raise Refused(409, "nothing to undo")
            self._rewind(target)

    # -- agents' moves and analyses ------------------------------------------------------------------------
    def begin(self, kind, side=None):
        """A :class:`Job` for the agent to move (``kind="move"``) or an analysis of the position by
        ``side``'s agent ("black"/"white"; by default the first agent that shows its thinking, the side
        not to move first) (``kind="analysis"``). Refused while another job runs for this game, when the
        game is over, or when it is a person's move. :meth:`Hub.launch` runs it."""
        with self.lock:
            self._ready()
            if kind == "move":
                i = self.g.to_play
                if self.sides[i].human:
                    raise Refused(409, f"it is {COLOURS[i]}'s turn, and a person plays {COLOURS[i]}")
            else:
                i = self._analyst(side)
            who = self.sides[i]
            if not who.lock.acquire(blocking=False):
                raise Refused(409, f"{COLOURS[i]} ({who.spec}) is still busy with a move that ran out of "
                                   f"time: try again when it is done")
            self.job = Job(self, kind, i, who, self.generation, self.g.copy(), self.seed,
                           Clock(self.move_timeout, self.halt))
            self.note = None
            return self.job

    def finish(self, job, result):
        """``job``'s result: ``(what, value, thinking)``, applied unless the game changed meanwhile.
        ``what``: "move" (value: the action), "resign", "fail" (value: the message) or "stopped"
        (value: :attr:`Stopped.why`)."""
        what, value, info = result
        with self.lock:
            if self.job is not job:  # it ran out of time, or the game ended or was dropped meanwhile
                log.info("game %s: a late %s of %s dropped", self.id, job.kind, job.side.spec)
                return
            self.job = None
            self.touched = time.monotonic()
            if job.generation != self.generation:
                log.info("game %s: a %s of %s for an old position dropped", self.id, job.kind, job.side.spec)
                return
            colour, spec = COLOURS[job.i], job.side.spec
            if what == "stopped":
                if value == "time":
                    self._out_of_time(job)
                return
            if job.kind == "analysis":
                if what == "move" and info is not None:
                    self.analysis[len(self.g.history)] = {**info, "analysis": True}
                else:
                    self.note = value if what == "fail" else f"{colour} ({spec}) shows no analysis"
                return
            if what == "resign":
                self._end(1 - job.i, "resign", f"{colour} ({spec}) resigns")
            elif what == "fail":
                self._end(1 - job.i, "forfeit", value)
            elif value not in self.g.legal_actions():
                shown = self.g.move_str(value) if 0 <= value <= self.g.size ** 2 else value
                self._end(1 - job.i, "forfeit", f"{colour} ({spec}) forfeits: illegal move {shown}")
            else:
                if info is not None:
                    self.thinking[len(self.g.history)] = info
                self._play(value)

    def expire(self, job):
        """``job`` ran past the move timeout: an agent's move forfeits the game, an analysis is given up.
        A search stops at its next leaf; another agent's thread goes on to its end, its result dropped
        (its side stays locked until then)."""
        with self.lock:
            if self.job is not job:
                return
            self.job = None
            job.clock.cancel()
            if job.generation == self.generation:  # else the game was dropped meanwhile
                self._out_of_time(job)

    def retire(self):
        """The hub dropped this game: it takes no more requests, its job's search stops (its result is
        dropped) and its external engines are closed (an engine's move in progress then fails, dropped
        too)."""
        with self.lock:
            if self.retired:
                return
            self.retired = True
            self.generation += 1
            if self.job is not None:
                self.job.clock.cancel()
        self.close()

    def close(self):
        for side in self.sides:
            side.close()

    # -- internals -----------------------------------------------------------------------------------------
    def _live(self):
        if self.retired:
            raise Refused(404, f"game {self.id!r} was dropped (replaced by a new game, deleted or idle)")

    def _out_of_time(self, job):
        colour, spec = COLOURS[job.i], job.side.spec
        if job.kind == "move":
            self._end(1 - job.i, "forfeit", f"{colour} ({spec}) forfeits: no move within {self.move_timeout:g} s")
        else:
            self.generation += 1
            self.note = f"{colour} ({spec}) did not finish its analysis within {self.move_timeout:g} s"

    def _ready(self):
        self._live()
        if self.over:
            raise Refused(409, "the game is over: start a new one (or undo)")
        if self.busy:
            raise Refused(409, f"an agent is thinking ({self.busy}): wait for it")

    def _analyst(self, side):
        if side is not None:
            if side not in COLOURS:
                raise Refused(400, f"side must be 'black' or 'white', got {side!r}")
            i = COLOURS.index(side)
            if self.sides[i].human:
                raise Refused(409, f"a person plays {side}: there is no agent to analyse with")
            if not self.shows_thinking(i):
                raise Refused(409, f"{side} ({self.sides[i].spec}) shows no thinking (az:, mcts: and seq: players do)")
            return i
        order = (1 - self.g.to_play, self.g.to_play)
        for i in order:
            if not self.sides[i].human and self.shows_thinking(i):
                return i
        raise Refused(409, "no agent in this game shows its thinking (az:, mcts: and seq: players do)")

    def shows_thinking(self, i):
        a = self.sides[i].agent
        return any(hasattr(a, k) for k in ("last_search", "evaluate", "distribution"))

    def _parse(self, move):
        n = self.g.size
        if isinstance(move, bool) or not isinstance(move, (int, str)):
            raise Refused(400, "move must be a move in the game's notation (e.g. 'f5', 'D4', 'pass') or an "
                               "action number")
        if isinstance(move, int):
            if not 0 <= move <= n * n:
                raise Refused(400, f"move {move} is out of range: actions are 0..{n * n} on a {n}x{n} board")
            return move
        if len(move) > 16:
            raise Refused(400, f"not a move: {move[:16]!r}…")
        try:
            return self.g.parse(move.strip())
        except ValueError as e:
            raise Refused(400, f"not a move: {e}") from None

    def _play(self, a):
        self.g.play(a)
        self.boards.append(board_string(self.g))
        self.generation += 1
        self._auto_pass()

    def _auto_pass(self):
        """A person's forced Othello pass (no other legal move) is played for them, and said so."""
        g = self.g
        while (not self.over and g.game == "othello" and self.sides[g.to_play].human
               and g.legal_actions() == [g.size * g.size]):
            self.auto.add(len(g.history))
            self.note = f"{COLOURS[g.to_play]} has no legal move and passes"
            g.play(g.size * g.size)
            self.boards.append(board_string(g))
            self.generation += 1

    def _end(self, winner, reason, message):
        self.end = {"winner": winner, "reason": reason, "message": message}
        if self.job is not None:  # a person resigned while an agent analysed: its search stops, its result goes
            self.job.clock.cancel()
            self.job = None
        self.generation += 1

    def _rewind(self, ply):
        """Back to the position after ``ply`` moves."""
        g = self.g
        keep = g.history[:ply]
        self.g = Game(g.game, g.size, komi=self.komi).play_all(keep)
        del self.boards[ply + 1:]
        self.thinking = {k: v for k, v in self.thinking.items() if k < ply}
        self.analysis = {k: v for k, v in self.analysis.items() if k <= ply}
        self.auto = {k for k in self.auto if k < ply}
        self.note = None
        self.generation += 1


# -- every game of the server ------------------------------------------------------------------------------

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


class Hub:
    """The server's games by id, least recently used first; the agents' resolved specs (an
    ``inference=auto`` or ``time=`` spec is timed once per server, and its resolved form builds the agent
    of every later game: the same backend and simulations); the ``workers`` slots that agents think in.

    ``make_agent(spec, game, size, komi, seed=, move_timeout=)`` builds a side's agent (arena.specs'
    by default; a test hands in its own players)."""

    def __init__(self, seed=0, move_timeout=60.0, allow_gtp=True, max_games=32, idle_seconds=3600.0, workers=4,
                 make_agent=make_agent):
        self.seed, self.move_timeout, self.allow_gtp = int(seed), float(move_timeout), bool(allow_gtp)
        self.max_games, self.idle_seconds = int(max_games), float(idle_seconds)
        self.workers = max(1, int(workers))
        self.slots = threading.BoundedSemaphore(self.workers)  # one per thread an agent thinks in
        self.halt = threading.Event()  # set when the server stops: every search stops at its next leaf
        self.make_agent = make_agent
        self.sessions = OrderedDict()
        self.resolved = {}
        self.lock = threading.Lock()

    # -- the games ---------------------------------------------------------------------------------------
    def get(self, id):
        with self.lock:
            s = self.sessions.get(id) if isinstance(id, str) else None
            if s is None:
                raise Refused(404, f"no game {str(id)[:40]!r} (it may have expired: start a new one)")
            self.sessions.move_to_end(id)
            s.touched = time.monotonic()
            return s

    def drop(self, id):
        with self.lock:
            s = self.sessions.pop(id, None)
        if s is None:
            raise Refused(404, f"no game {str(id)[:40]!r}")
        s.retire()

    def sweep(self):
        """Drop every game idle (no request, no agent thinking) for over ``idle_seconds``, closing its
        engines; the number dropped. The app calls it every minute or so."""
        now = time.monotonic()
        with self.lock:
            gone = [s for s in self.sessions.values() if now - s.touched > self.idle_seconds and not s.busy]
            for s in gone:
                del self.sessions[s.id]
        for s in gone:
            log.info("game %s dropped after %.0f s idle", s.id, now - s.touched)
            s.retire()
        return len(gone)

    def close(self):
        """The server stops: every search stops, every game is dropped and its engines closed."""
        self.halt.set()
        with self.lock:
            sessions, self.sessions = list(self.sessions.values()), OrderedDict()
        for s in sessions:
            s.retire()

    # -- agents' jobs --------------------------------------------------------------------------------------
    def launch(self, s, kind, side=None):
        """Start ``s.begin(kind, side)``'s job in a thread of its own: ``(job, done)``, ``done`` a Future
        resolved when it ends. Refused (503) when all ``workers`` are busy: a job never waits in a queue."""
        self._slot()
        try:
            job = s.begin(kind, side)
        except BaseException:
            self.slots.release()
            raise
        try:
            return job, spawn(job.run, name=f"arena-serve-{kind}", after=self.slots.release)
        except BaseException:  # no thread could start: the job ends here, unrun
            self.slots.release()
            s.finish(job, ("stopped", "dropped", None))
            job.side.lock.release()
            raise

    def _slot(self):
        if self.halt.is_set():
            raise Refused(503, "the server is stopping")
        if not self.slots.acquire(blocking=False):
            raise Refused(503, f"all {self.workers} search workers are busy (--workers): try again when a move "
                               f"ends")

    # -- a new game ----------------------------------------------------------------------------------------
    def create(self, body):
        """A new game from a request's fields (docs/serve.md): ``game``, ``size``, ``komi``, ``black``,
        ``white`` ("human" or an agent spec), ``seed``, ``move_timeout`` (a limit below the server's),
        ``replaces`` (the id of this tab's previous game: its idle agents are reused where the new game
        has the same spec, game, size, komi and limit, and it is dropped). A new player with a search or a
        model plays one warm-up move first (:meth:`_warm_up`): in a worker's thread, under the game's move
        limit."""
        game, size, komi, seed, timeout, specs = self._fields(body)
        key = (game, size, komi, timeout)
        old = self._replaced(body.get("replaces"))
        sides, taken = [], []  # taken: (i, side) of the old game's sides reused, given back on a failure
        try:
            for spec in specs:
                sides.append(self._side(spec, key, seed, old, taken))
            reused = [side for _, side in taken]
            for side in sides:
                if not side.human and not any(side is r for r in reused) and loads(side.agent):
                    self._warm_up(side, key)
            for side in sides:
                if not side.human:
                    side.agent.reset(seed)  # a new game; an external engine: a new board
            s = Session(secrets.token_urlsafe(9), game, size, komi, sides, seed, timeout, self.halt)
        except BaseException:
            for side in sides:
                if not any(side is r for _, r in taken):
                    side.close()
            if taken:
                with old.lock:
                    for i, side in taken:
                        old.sides[i] = side
            raise
        self._admit(s, old)
        return s

    def _fields(self, body):
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            raise Refused(400, f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(FIELDS))})")
        game = body.get("game", "othello")
        if game not in SIZES:
            raise Refused(400, f"unknown game {str(game)[:20]!r}: one of {', '.join(SIZES)}")
        size = body.get("size", SIZES[game][0])
        if isinstance(size, bool) or size not in SIZES[game]:
            raise Refused(400, f"unknown size {str(size)[:20]!r} for {game}: one of "
                               f"{', '.join(str(n) for n in SIZES[game])}")
        komi = body.get("komi")
        if komi is not None:
            if game != "go":
                raise Refused(400, "komi applies to Go only")
            if isinstance(komi, bool) or not isinstance(komi, (int, float)) or not math.isfinite(komi) \
                    or abs(komi) > 200:
                raise Refused(400, f"komi must be a number between -200 and 200, got {str(komi)[:20]!r}")
            komi = float(komi)
        seed = body.get("seed", self.seed)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63:
            raise Refused(400, f"seed must be an integer in 0..2**63-1, got {str(seed)[:30]!r}")
        timeout = body.get("move_timeout", self.move_timeout)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= self.move_timeout:
            raise Refused(400, f"move_timeout must be a number of seconds above 0 and at most the server's "
                               f"{self.move_timeout:g}, got {str(timeout)[:20]!r}")
        specs = []
        for colour, default in zip(COLOURS, (HUMAN, "mcts:rollouts=200")):
            spec = body.get(colour, default)
            if not isinstance(spec, str) or not spec.strip() or len(spec) > MAX_SPEC:
                raise Refused(400, f"{colour} must be 'human' or an agent spec (at most {MAX_SPEC} characters)")
            specs.append(None if spec.strip() == HUMAN else spec.strip())
        return game, size, komi, seed, float(timeout), specs

    def _replaced(self, id):
        if id is None:
            return None
        if not isinstance(id, str):
            raise Refused(400, "replaces must be a game's id (a string)")
        with self.lock:
            return self.sessions.get(id)  # None: gone already (idle, deleted): nothing to reuse

    def _side(self, spec, key, seed, old, taken):
        """A side for ``spec``: a person, an idle side of the old game of the same key, or a new agent."""
        if spec is None:
            return Side()
        if old is not None and old.key == key:
            with old.lock:  # begin() runs under it too: the old game cannot start a job on a side taken here
                if not old.busy and not old.retired:
                    for i, side in enumerate(old.sides):
                        if side.spec == spec and not side.human and not side.lock.locked():
                            old.sides[i] = Side()  # taken over: the old game neither runs nor closes it
                            taken.append((i, side))
                            return side
        game, size, komi, timeout = key
        return Side(spec, self.build(spec, game, size, komi, seed, timeout))

    def build(self, spec, game, size, komi, seed, move_timeout=None):
        """The agent ``spec`` names, for ``game``/``size`` (an external engine answers within
        ``move_timeout`` seconds, the server's by default), without a search; a bad spec, or a search of
        over ``MAX_WORK`` simulations x rollouts per leaf, is a :class:`Refused` (400)."""
        if spec.partition(":")[0].strip() == "gtp" and not self.allow_gtp:
            raise Refused(400, "gtp: engines are off on this server: it listens beyond this machine (start it with "
                               "--allow-gtp to run engine commands that a request names)")
        key = (spec, game, size, komi)
        with self.lock:
            resolved = self.resolved.get(key, spec)
        agent = None
        try:
            self._check_az(resolved)
            agent = self.make_agent(resolved, game, size, komi, seed=seed,
                                    move_timeout=move_timeout or self.move_timeout)
            error = too_much(spec, *search_work(agent))
            if error is not None:
                raise error
            check = getattr(agent, "check", None)  # an external engine starts now: a bad command fails here
            if check is not None:
                check()
        except BaseException as e:
            if agent is not None:
                Side(spec, agent).close()  # an engine started by check() and then refused
            if isinstance(e, (Refused, KeyboardInterrupt, SystemExit)):
                raise
            if isinstance(e, ValueError):
                raise Refused(400, e) from None
            log.warning("cannot build %s", spec, exc_info=True)  # a file that is not a checkpoint, a model that
            raise Refused(400, f"cannot build agent {spec!r}: {type(e).__name__}: {one_line(e)}") from None
        with self.lock:
            self.resolved[key] = getattr(agent, "resolved_spec", spec)
        return agent

    @staticmethod
    def _check_az(spec):
        # An az: spec's searches are checked before it is built: with time=, building times searches of
        # its sims= (arena.specs.simulations_in). A spec that does not parse is left to make_agent to refuse.
        if spec.partition(":")[0].strip() != "az":
            return
        try:
            sims = number(spec, "sims", az_options(spec)[1].get("sims", "64"))
        except ValueError:
            return
        error = too_much(spec, sims)
        if error is not None:
            raise error

    def _warm_up(self, side, key):
        """One move of a fresh game by a new player with a search or a model, so that what its first move
        loads (Numba's kernels from their cache, the net's first call) is not counted as thinking: in a
        worker's thread, under the game's move limit (a search stops at it; another player's thread is
        left to end)."""
        game, size, komi, timeout = key
        clock = Clock(timeout, self.halt)

        def first_move():
            clock.start()
            with checked(side.agent, clock):
                side.agent.act(Game(game, size, komi=komi))

        self._slot()
        try:
            done = spawn(first_move, name="arena-serve-warm-up", after=self.slots.release)
        except BaseException:  # no thread could start
            self.slots.release()
            raise
        late = Refused(400, f"agent {side.spec!r} made no first move within {timeout:g} s, the move limit (ask for "
                            f"fewer simulations, or a longer move_timeout)")
        if not wait(done, clock):
            clock.cancel()
            raise late
        try:
            done.result()
        except Stopped as e:
            raise (Refused(503, "the server is stopping") if e.why == "stopping" else late) from None
        except Exception as e:
            log.warning("warming up %s failed", side.spec, exc_info=True)
            raise Refused(400, f"agent {side.spec!r} fails on the start position: {type(e).__name__}: "
                               f"{one_line(e)}") from None

    def _admit(self, s, old):
        gone, admitted = [], False
        with self.lock:
            if old is not None and self.sessions.get(old.id) is old:
                gone.append(self.sessions.pop(old.id))  # replaced: dropped even while busy (its search stops)
            while len(self.sessions) >= self.max_games:
                idle = next((o for o in self.sessions.values() if not o.busy), None)
                if idle is None:
                    break
                gone.append(self.sessions.pop(idle.id))
            else:
                self.sessions[s.id] = s
                admitted = True
        for o in gone:
            o.retire()
        if not admitted:
            s.retire()
            raise Refused(503, f"{self.max_games} games are busy at once: try again when one is done")
