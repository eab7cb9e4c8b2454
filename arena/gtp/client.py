"""GTP v2 client: an external engine (GNU Go, gtp-rhino, or our own ``arena gtp``) as an arena agent.

    agent = GTPAgent("/usr/games/gnugo --mode gtp --level 1 --chinese-rules", "go", 9, komi=7.5)
    agent.act(game)            # game: envs.game.Game; the engine is synced to game.history first

Protocol (GTP v2): one command per line; the answer is ``= text`` or ``? message`` and ends with a
blank line. The engine's board is synced by sending the moves it has not seen (``play``); if the history
diverged (a new game, an undo) it is cleared and replayed. Quirks of gtp-rhino (Debian's grhino package,
as measured here): Othello needs ``set_game Othello`` first, answers upper case, passes by itself and
rejects ``play x pass``, so our Othello passes are never sent and a forced pass is answered without
asking the engine.

Anything the engine does wrong (no answer within ``move_timeout``, exit, a ``?`` to a command that must
work, an illegal or unreadable move) raises :class:`EngineError`; the game driver turns it into a
forfeit with that reason, and the engine is restarted for the next game. ``resign`` raises :class:`Resign`.
"""

import os
import queue
import shlex
import subprocess
import threading
import time

from agents.players import AgentError, Resign, SingleGameAgent
from envs import notation
from envs.go_kernels import default_komi


class EngineError(AgentError):
    """The engine misbehaved; the message is the forfeit reason (agents.match records the forfeit)."""


class GTPFailure(Exception):
    """The engine answered ``? message`` (a refusal, not a crash)."""


class GTPEngine:
    """A GTP engine process. ``send(cmd)`` returns the answer text or raises GTPFailure / EngineError."""

    def __init__(self, command, timeout=30.0, start_timeout=30.0, stderr_path=None):
        self.argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not self.argv:
            raise ValueError("empty GTP engine command")
        self.timeout = float(timeout)
        err = open(stderr_path, "ab") if stderr_path else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                         text=True, bufsize=1, start_new_session=True)
        except OSError as e:
            raise ValueError(f"cannot start GTP engine {self.argv[0]!r}: {e.strerror or e}") from None
        finally:
            if stderr_path:
                err.close()
        try:
            self.lines = queue.Queue()
            threading.Thread(target=self._reader, daemon=True).start()
            self.send("protocol_version", timeout=start_timeout)  # proves it speaks GTP
            self.commands = set(self.send("list_commands").split())
        except BaseException:
            self.close()  # started, then refused or failed: nobody else holds the process to kill it
            raise

    def _reader(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)  # EOF: the engine exited

    def send(self, command, timeout=None):
        if self.proc.poll() is not None:
            raise EngineError(f"engine exited (code {self.proc.returncode})")
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise EngineError(f"engine exited before '{command}'") from None
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        answer = []
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.close()
                raise EngineError(f"no answer to '{command}' within {self.timeout if timeout is None else timeout:g}s")
            if line is None:
                self.proc.wait()
                raise EngineError(f"engine exited during '{command}' (code {self.proc.returncode})")
            line = line.rstrip("\r\n")
            if not answer and not line.strip():
                continue  # stray blank lines between answers
            if line.strip() == "" and answer:
                break
            answer.append(line)
        head = answer[0]
        if head[:1] not in "=?":
            self.close()  # out of step with its answers: only a restart can be trusted
            raise EngineError(f"malformed answer to '{command}': {head[:80]!r}")
        text = "\n".join([head[1:].strip(), *answer[1:]]).strip()  # we send no ids, so none come back
        if head[0] == "?":
            raise GTPFailure(text or "failed")
        return text

    def close(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)  # the whole session: a wrapper script's children too
            except OSError:
                self.proc.kill()
            self.proc.wait()

    @property
    def alive(self):
        return self.proc.poll() is None


def colour(c):
    return "black" if c == 0 else "white"


class GTPAgent(SingleGameAgent):
    """An external GTP engine as an arena agent. Acts on one ``envs.game.Game`` at a time (the engine
    needs the history to stay in sync); ``seed`` is recorded but only the engine's own flags seed it."""

    def __init__(self, command, game, size, komi=None, move_timeout=30.0, seed=0, name=None):
        super().__init__(seed)
        self.command, self.game, self.size = command, game, int(size)
        self.komi = komi
        self.move_timeout = float(move_timeout)
        self.name = name or f"gtp:{command}"
        self.engine = None
        self.sent = None  # the history the engine's board holds, or None: needs setup

    # -- engine lifecycle --------------------------------------------------------------------------------
    def _start(self):
        if self.engine is None or not self.engine.alive:
            try:
                self.engine = GTPEngine(self.command, timeout=self.move_timeout)
            except GTPFailure as e:
                raise EngineError(f"engine refused the start-up commands: {e}") from None
            self.sent = None
        if self.sent is None:
            setup = []
            if self.game == "othello":
                if "set_game" in self.engine.commands:
                    setup.append("set_game Othello")
            setup += [f"boardsize {self.size}", "clear_board"]
            if self.game == "go":  # always sent: an engine's own default komi is not ours
                setup.append(f"komi {self.komi if self.komi is not None else default_komi(self.size):g}")
            for cmd in setup:
                try:
                    self.engine.send(cmd)
                except GTPFailure as e:
                    raise EngineError(f"engine refused '{cmd}': {e}") from None
            self.sent = []

    def check(self):
        """Start the engine and set up a board once: a bad command line fails here, in one line."""
        try:
            self._start()
        except EngineError as e:
            raise ValueError(f"GTP engine {self.command!r}: {e}") from None

    def reset(self, seed=None):
        super().reset(seed)
        self.sent = None  # the next act clears the board

    def close(self):
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    def send(self, command):
        """A raw GTP command to the engine (e.g. ``final_score``); returns the answer text."""
        self._start()
        return self.engine.send(command)

    def final_score(self, game):
        """The engine's own ``final_score`` of ``game`` (synced to its whole history first), e.g. ``B+3.5``."""
        self._sync(list(game.history))
        try:
            return self.engine.send("final_score")
        except GTPFailure as e:
            raise EngineError(f"engine refused final_score: {e}") from None

    # -- moves -----------------------------------------------------------------------------------------
    def vertex(self, action):
        if self.game == "othello":
            return notation.othello_move(action, self.size).upper()
        return notation.gtp_move(action, self.size)

    def _sync(self, history):
        if self.sent is None or self.sent != history[: len(self.sent)]:
            self.sent = None
            self._start()
        for i in range(len(self.sent), len(history)):
            a = history[i]
            if not (self.game == "othello" and a == self.size * self.size):  # rhino passes by itself
                cmd = f"play {colour(i % 2)} {self.vertex(a)}"
                try:
                    self.engine.send(cmd)
                except GTPFailure as e:
                    raise EngineError(f"engine rejected '{cmd}': {e}") from None
            self.sent.append(a)

    def choose(self, g, legal):
        self._sync(list(g.history))
        try:
            answer = self.engine.send(f"genmove {colour(g.to_play)}")
        except GTPFailure as e:
            raise EngineError(f"engine refused genmove: {e}") from None
        move = answer.split()[0].lower() if answer.split() else ""
        if move == "resign":
            self.sent = None
            raise Resign()
        try:
            a = g.parse(move)
        except ValueError:
            self.sent = None
            raise EngineError(f"unreadable move {answer[:40]!r}") from None
        if a not in legal:
            self.sent = None
            raise EngineError(f"illegal move {move.upper()}")
        self.sent.append(a)
        return a

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
