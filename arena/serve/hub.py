"""Every game of ``arena serve``'s server: the :class:`Hub` that owns them by id, least recently used
first. It checks a new game's request, builds its agents from specs (or takes over the idle ones of the
game it replaces) and warms new ones up, runs the agents' jobs in at most ``workers`` threads (one asked
for while all are busy is a 503, never queued), and drops replaced, deleted and idle games, closing their
engines. One game is arena.serve.sessions'; the threads and clocks, arena.serve.thinking's.
"""

import logging
import math
import secrets
import threading
import time
from collections import OrderedDict

from agents.players import number
from arena.serve.sessions import HUMAN, Refused, Session, Side, one_line
from arena.serve.thinking import COLOURS, Clock, Stopped, checked, loads, search_work, spawn, too_much, wait
from arena.specs import az_options, make_agent
from envs.game import Game

log = logging.getLogger("arena.serve")

SIZES = {"othello": (8, 6), "go": (9, 7, 5)}
"""The games and board sizes the page offers, the first of each its default."""
MAX_SPEC = 500            # characters of an agent spec
FIELDS = {"game", "size", "komi", "black", "white", "seed", "move_timeout", "replaces"}


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
