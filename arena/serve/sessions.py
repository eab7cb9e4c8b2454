"""The games of ``arena serve``: each browser tab's game (a person against an agent, two agents, or two
people): its sides, the position, what the agents thought, how it ended, and an agent's move or analysis
as a job.

    from arena.serve.hub import Hub

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

Threads, clocks and what an agent thought: arena.serve.thinking. Every game of the server, and the worker
threads its jobs run in: arena.serve.hub.

Determinism: a game has a seed (the server's ``--seed`` unless the request names one). Every agent that
plays batches (all but external GTP engines, which only their own flags seed) is reset with
:func:`move_seed` of (seed, ply) before it chooses, so the same seed and the same moves give the same
replies, after an undo or an analysis too. An ``az:`` spec under ``inference=auto`` (the shipped nets'
default) picks its backend by timing, once per server (the resolved spec is kept); name the backend
(``inference=torch``) for replies that are the same from one server run to the next as well.
"""

import logging
import threading
import time

import numpy as np

from agents.players import AgentError, Resign
from arena.serve.thinking import COLOURS, Clock, Stopped, checked, thinking
from arena.tournament.records import result_string
from arena.tournament.viewer import board_string
from envs.game import Game

log = logging.getLogger("arena.serve")

HUMAN = "human"


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


