"""GTP both ways: our server's protocol, forfeits of misbehaving engines, and real games against
GNU Go and gtp-rhino (skipped, saying so, when their binaries are absent)."""

import io
import os
import shutil
import sys

import pytest

from arena.gtp.server import MAX_LINE, GTPServer
from arena.match import play_game
from arena.specs import make_agent
from envs.game import Game
from tests.conftest import need

HERE = os.path.dirname(__file__)
FAKE = f"{sys.executable} {os.path.join(HERE, 'fake_gtp.py')}"
OURS = f"{sys.executable} -m arena.cli gtp"
GNUGO = shutil.which("gnugo") or ("/usr/games/gnugo" if os.path.exists("/usr/games/gnugo") else None)
RHINO = shutil.which("gtp-rhino") or ("/usr/games/gtp-rhino" if os.path.exists("/usr/games/gtp-rhino") else None)


def answers(server, *commands):
    out = io.StringIO()
    server.serve(io.StringIO("\n".join(commands) + "\n"), out)
    blocks = out.getvalue().split("\n\n")
    assert blocks[-1] == ""  # every answer ends with a blank line
    return blocks[:-1]


# -- our server ------------------------------------------------------------------------------------------

def test_server_protocol_basics():
    s = GTPServer("random", "go", 9)
    a = answers(s, "protocol_version", "7 name", "known_command genmove", "known_command fly",
                "list_commands", "boardsize 5", "clear_board", "komi 0.5", "play b C3", "play white B2",
                "2 final_score", "showboard")
    assert a[0] == "= 2"
    assert a[1] == "=7 selfplay-arena"  # the id is echoed
    assert a[2] == "= true" and a[3] == "= false"
    for cmd in ("protocol_version", "boardsize", "clear_board", "komi", "play", "genmove", "undo", "showboard",
                "final_score", "quit", "known_command", "list_commands", "name", "version"):
        assert cmd in a[4].split()
    assert a[5:10] == ["=", "=", "=", "=", "="]
    # Tromp-Taylor on 5x5 with one stone each and komi 0.5: the empty region touches both colours.
    assert a[10] == "=2 W+0.5"
    assert "X" in a[11] and "O" in a[11] and a[11].startswith("=")


def test_server_malformed_commands_keep_it_up():
    s = GTPServer("random", "go", 9)
    a = answers(s, "fly away", "boardsize 42", "boardsize x", "play b Z9", "play q D4", "play b", "genmove",
                "komi abc", "undo", "play b D4", "play w D4", "  # only a comment", "3", "\x01name\x02",
                "protocol_version")
    assert a[0] == "? unknown command"
    assert a[1] == "? unacceptable size"
    assert a[2].startswith("? ")
    assert a[3] == "? invalid vertex 'Z9'"
    assert a[4] == "? invalid color 'q'"
    assert a[5].startswith("? syntax error") and a[6].startswith("? syntax error")
    assert a[7] == "? komi needs a number"
    assert a[8] == "? cannot undo"
    assert a[9] == "="
    assert a[10] == "? illegal move"  # occupied
    assert a[11] == "?3 missing command"
    assert a[12] == "= selfplay-arena"  # control characters are removed
    assert a[13] == "= 2"


def test_server_genmove_undo_and_implied_pass():
    s = GTPServer("greedy", "go", 5, seed=1)
    a = answers(s, "genmove b", "genmove b")
    assert a[0].startswith("= ") and a[0] != "= pass"
    # Black again: white's pass is implied and inserted, as GTP engines do.
    assert a[1].startswith("= ")
    assert len(s.board.history) == 3 and s.board.history[1] == 25
    a = answers(s, "undo", "undo")
    assert a == ["=", "="]
    assert len(s.board.history) == 1  # back to black's first move


def test_server_othello_like_gtp_rhino():
    s = GTPServer("random", "go", 9)
    a = answers(s, "set_game Othello", "list_games", "boardsize 8", "clear_board", "play b d3", "genmove w",
                "set_game Chess", "play b pass")
    assert a[0] == "=" and "Othello" in a[1]
    assert s.game == "othello" and s.size == 8
    reply = a[5][2:]
    assert reply.isupper() and len(reply) == 2  # upper case, like gtp-rhino
    assert a[6].startswith("? unsupported game")
    assert a[7] == "? illegal move"  # black has moves: no pass
    # A forced pass: random 6x6 games until one reaches a position whose side to move must pass.
    import numpy as np

    rng = np.random.default_rng(0)
    for _ in range(200):
        g = Game("othello", 6)
        while not g.terminal and g.legal_actions() != [36]:
            g.play(int(rng.choice(g.legal_actions())))
        if not g.terminal:
            break
    assert not g.terminal, "no forced pass found"
    s2 = GTPServer("random", "othello", 6)
    s2.board = g.copy()
    other = "b" if g.to_play == 1 else "w"
    move = g.copy().play(36).legal_moves()[0]
    a2 = answers(s2, f"play {other} {move.upper()}")
    assert a2 == ["="]
    assert s2.board.history[len(g.history)] == 36  # the implied pass was inserted before the move


def test_server_final_score_othello_gives_empties_to_the_winner():
    g = Game("othello", 4)
    while not g.terminal:
        g.play(g.legal_actions()[-1])
    s = GTPServer("random", "othello", 4)
    s.board = g
    (a,) = answers(s, "final_score")
    m = g.final_margin()
    assert a == ("= 0" if m == 0 else f"= {'B' if m > 0 else 'W'}+{abs(m):g}")
    assert abs(m) >= abs(g.score())


def test_server_finished_game_answers_genmove_with_pass_and_refuses_play():
    s = GTPServer("random", "go", 5)
    a = answers(s, "play b pass", "play w pass", "genmove b", "genmove w", "play b C3", "play w pass")
    assert a[:2] == ["=", "="] and s.board.terminal
    assert a[2:4] == ["= pass", "= pass"]  # well-formed, no -1 played
    assert a[4:] == ["? illegal move (the game is over)"] * 2
    assert s.board.history == [25, 25]


def test_server_out_of_turn_after_a_pass_is_a_clear_error_not_an_internal_one():
    """An implied pass is inserted only where it does not end the game: after black's pass, white's
    pass would be the second in a row, so a second black move is refused and nothing is inserted."""
    s = GTPServer("random", "go", 5)
    a = answers(s, "play b pass", "genmove b", "play b C3")
    assert a[0] == "="
    assert a[1] == a[2] == "? black is not to move (a white pass would end the game)"
    assert s.board.history == [25] and not s.board.terminal
    # The same after taking back the pass that ended the game.
    a = answers(s, "play w pass", "undo", "genmove b", "play b C3", "genmove w")
    assert a[:2] == ["=", "="]
    assert a[2] == a[3] == "? black is not to move (a white pass would end the game)"
    assert a[4].startswith("= ")  # white, who is to move, may move (or pass and end the game)
    assert s.board.history[0] == 25 and len(s.board.history) == 2 and -1 not in s.board.history


def test_server_refused_move_leaves_no_inserted_pass_behind():
    s = GTPServer("random", "go", 5)
    a = answers(s, "play b C3", "play b C3")  # white's pass is implied, but the point is occupied
    assert a == ["=", "? illegal move"]
    assert s.board.history == [12]
    s = GTPServer("random", "othello", 6)
    a = answers(s, "play w pass", "genmove w", "play w C3")  # black has moves: nothing is implied
    assert a == ["? white is not to move (black has a move, so no pass is implied)"] * 3
    assert s.board.history == []


def test_server_never_plays_minus_one_or_fails_internally_on_any_sequence():
    import numpy as np

    rng = np.random.default_rng(7)
    for game, size in (("go", 3), ("othello", 4)):
        s = GTPServer("random", game, size, seed=2)
        vertices = [s.vertex(a) for a in range(size * size + 1)]
        commands = []
        for _ in range(400):
            k = rng.integers(10)
            colour = "bw"[rng.integers(2)]
            if k < 4:
                commands.append(f"genmove {colour}")
            elif k < 7:
                commands.append(f"play {colour} {vertices[rng.integers(len(vertices))]}")
            elif k < 9:
                commands.append("undo")
            else:
                commands.append("clear_board")
        a = answers(s, *commands)
        assert len(a) == len(commands)
        for cmd, reply in zip(commands, a):
            assert reply.startswith(("=", "? ")), (cmd, reply)
            assert "internal error" not in reply, (cmd, reply)
            if cmd.startswith("genmove") and reply.startswith("="):
                assert reply[2:].lower() in [v.lower() for v in vertices]
        assert -1 not in s.board.history
        Game(game, size).play_all(s.board.history)  # the server's game is a legal one


def test_server_agent_faults_are_one_line_and_roll_back():
    class Broken:
        def __init__(self, answer):
            self.answer = answer

        def act(self, game):
            if isinstance(self.answer, Exception):
                raise self.answer
            return [self.answer]

    s = GTPServer("random", "go", 5)
    answers(s, "play b pass")
    s.agent = lambda: Broken(-1)
    assert answers(s, "genmove w") == ["? the agent chose no legal move (action -1)"]
    s.agent = lambda: Broken(ValueError("bad\n\nposition é" + "x" * 1000))
    (a,) = answers(s, "genmove w")  # no blank line inside: still exactly one answer
    assert a.startswith("? internal error: ValueError: bad ...") and len(a) < 250
    s.agent = lambda: Broken(ValueError("y" * 10_000))
    (a,) = answers(s, "genmove w")
    assert a.startswith("? internal error: ValueError: yyy") and len(a) < 250
    assert s.board.history == [25]


def test_server_echoes_at_most_a_few_dozen_characters_of_user_text():
    s = GTPServer("random", "go", 9)
    junk = "x" * 100_000
    a = answers(s, f"play b {junk}", f"play {junk} D4", f"set_game {junk}", f"komi {junk}inf",
                f"{junk}", "1" * 100 + " name", "play b \u00e9\u00e9")
    assert a[0] == f"? invalid vertex '{'x' * 40}'... (100000 characters)"
    assert a[1] == f"? invalid color '{'x' * 40}'... (100000 characters)"
    assert a[2].startswith("? unsupported game 'xxxx") and "(100000 characters)" in a[2]
    assert a[3] == "? komi needs a number"
    assert a[4] == "? unknown command"  # the standard answer, the name not echoed
    assert a[5] == "? command id too long (over 40 digits)"
    assert a[6] == "? invalid vertex '\\xe9\\xe9'"  # ASCII-safe
    assert all(len(x) < 120 for x in a)


class CountingReader(io.StringIO):
    """Input that records the size asked for and the length returned by every ``readline``."""

    def __init__(self, text):
        super().__init__(text)
        self.reads = []

    def readline(self, size=-1):
        line = super().readline(size)
        self.reads.append((size, len(line)))
        return line


def test_server_huge_line_is_refused_in_bounded_reads_and_the_session_goes_on():
    s = GTPServer("random", "go", 9)
    lines = ["5 play b " + "x" * 20_000_000, "name # " + "y" * 3_000_000, "6 play b D4"]
    stdin, out = CountingReader("\n".join(lines) + "\n"), io.StringIO()
    s.serve(stdin, out)
    assert out.getvalue().split("\n\n")[:-1] == ["?5 command line too long (over 1048576 characters)",
                                                 "= selfplay-arena", "=6"]
    assert s.board.history == [s.board.parse("D4")]
    # A huge line is skipped in chunks, never read whole: a first read of MAX_LINE + 1 characters, then
    # reads of MAX_LINE to its end; a short line is one read; the end of input is one more.
    def reads(n):  # n characters, the newline included
        return 1 if n <= MAX_LINE + 1 else 1 + -(-(n - MAX_LINE - 1) // MAX_LINE)

    assert len(stdin.reads) == sum(reads(len(x) + 1) for x in lines) + 1 == 20 + 3 + 1 + 1
    assert all(0 < size <= MAX_LINE + 1 and got <= size for size, got in stdin.reads)


def test_server_bad_komi_boardsize_and_known_command():
    s = GTPServer("random", "go", 9, komi=7.5)
    a = answers(s, "komi nan", "komi inf", "komi -inf", "komi 1e400", "komi 1e300", "komi", "komi 5.5 6.5",
                "boardsize " + "9" * 5000, "boardsize \u00b2", "boardsize -9", "known_command",
                "known_command play genmove", "clear_board", "komi 6.5")
    assert a[0] == "? komi must be a finite number, got 'nan'"
    assert a[1] == "? komi must be a finite number, got 'inf'"
    assert a[2] == "? komi must be a finite number, got '-inf'"
    assert a[3] == "? komi must be a finite number, got '1e400'"
    assert a[4] == "? komi out of range (at most 1000 either way), got '1e300'"
    assert a[5] == a[6] == "? syntax error: komi FLOAT"
    assert a[7] == "? unacceptable size"
    assert a[8] == a[9] == "? boardsize needs one integer"
    assert a[10] == a[11] == "? syntax error: known_command COMMAND"
    assert a[12:] == ["=", "="]  # a refused komi left nothing broken behind
    assert s.komi == 6.5 and s.size == 9 and s.board.batch.komi == 6.5


def test_server_survives_bytes_that_are_not_utf8():
    s = GTPServer("random", "go", 9)
    out = io.StringIO()
    s.serve(io.TextIOWrapper(io.BytesIO(b"play b \xff\xfe\nname\n")), out)
    assert out.getvalue() == "? invalid vertex '\\ufffd\\ufffd'\n\n= selfplay-arena\n\n"


def test_arena_gtp_subprocess_bad_spec_is_one_line():
    import subprocess

    p = subprocess.run([sys.executable, "-m", "arena.cli", "gtp", "--agent", "nonsense"], capture_output=True,
                       text=True, input="quit\n", timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().startswith("arena: error: unknown agent spec 'nonsense'")
    assert "Traceback" not in p.stderr


# -- the client: forfeits ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode, reason", [
    ("sleep", "forfeit: black: no answer to 'genmove black' within 2s"),
    ("crash", "forfeit: black: engine exited during 'genmove black' (code 3)"),
    ("illegal", "forfeit: black: illegal move A1"),
    ("garbage", "forfeit: black: unreadable move 'Z99'"),
    ("refuse", "forfeit: black: engine refused genmove: no move for you"),
    ("junk", "forfeit: black: malformed answer to 'genmove black': 'hello'"),
    ("resign", "resign: black"),
])
def test_misbehaving_engine_forfeits_and_the_next_game_goes_on(mode, reason):
    # The verdict comes from what the engine does, never from the clock: only the engine that never
    # answers meets the timeout (its replies to the setup commands come at once); every other engine
    # gets one it never reaches, however loaded the machine.
    bad = make_agent(f"gtp:{FAKE} {mode}", "othello", 8, move_timeout=2.0 if mode == "sleep" else 120.0)
    rnd = make_agent("random", "othello", 8)
    for _ in range(2):  # the second game restarts or reuses the engine and ends the same way
        r = play_game(bad, rnd, "othello", 8, seed=3)
        assert r["reason"] == reason
        assert r["result"] == 0.0 and r["margin"] is None
    r = play_game(rnd, bad, "othello", 8, seed=3)  # as white: black's random move comes first
    assert r["result"] == 1.0 and r["reason"] == reason.replace("black", "white")
    bad.close()


def test_engine_that_cannot_start_is_one_clear_error():
    a = make_agent("gtp:/nonexistent/engine --gtp", "go", 9)
    with pytest.raises(ValueError, match="cannot start GTP engine '/nonexistent/engine'"):
        a.check()


REFUSER = """import os, sys
open(sys.argv[1], "w").write(str(os.getpid()))
refuse = sys.argv[2]
for line in sys.stdin:
    cmd = line.split()[0] if line.split() else ""
    print("? not today\\n" if cmd == refuse else "= 2\\n", flush=True)
"""


@pytest.mark.parametrize("refuse", ["protocol_version", "list_commands"])
def test_engine_that_refuses_the_handshake_is_killed(tmp_path, refuse):
    """It started, then answered ``?``: the error says so, and no process is left behind."""
    script, pid_file = tmp_path / "refuser.py", tmp_path / "pid"
    script.write_text(REFUSER)
    a = make_agent(f"gtp:{sys.executable} {script} {pid_file} {refuse}", "go", 9)
    with pytest.raises(ValueError, match="engine refused the start-up commands: not today"):
        a.check()
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(pid, 0)


def test_gtp_client_against_our_server_is_one_game():
    """Our agent through our GTP server plays exactly the game it plays in-process."""
    ours = make_agent(f"gtp:{OURS} --game othello --size 6 --agent greedy --seed 5", "othello", 6)
    rnd = make_agent("random", "othello", 6)
    r = play_game(ours, rnd, "othello", 6, seed=11)
    g = Game("othello", 6).play_all(r["moves"])
    assert g.terminal and r["reason"] == "end"
    assert ours.final_score(g) == ("0" if r["margin"] == 0 else f"{'B' if r['margin'] > 0 else 'W'}+{abs(r['margin']):g}")
    ours.close()


# -- real engines -------------------------------------------------------------------------------------------

def result_str(m):
    return "0" if m == 0 else f"{'B' if m > 0 else 'W'}+{abs(m):g}"


def test_random_through_our_gtp_server_against_gnugo():
    need(GNUGO, "GNU Go", "gnugo")
    ours = f"gtp:{OURS} --game go --size 9 --agent random --seed 3"
    gnu = f"gtp:{GNUGO} --mode gtp --level 1 --chinese-rules --capture-all-dead --seed 1"
    for k in range(2):
        specs = (ours, gnu) if k == 0 else (gnu, ours)
        b, w = (make_agent(s, "go", 9, 7.5, move_timeout=120) for s in specs)
        r = play_game(b, w, "go", 9, komi=7.5, seed=k)
        g = Game("go", 9, komi=7.5).play_all(r["moves"])
        assert r["reason"] == "end" and g.terminal and g.history[-2:] == [81, 81]  # two passes
        gnugo = w if k == 0 else b
        ourside = b if k == 0 else w
        # Tromp-Taylor-clean: GNU Go captured every dead stone, so its own count and ours agree exactly.
        assert gnugo.final_score(g) == result_str(r["margin"])
        assert ourside.final_score(g) == result_str(r["margin"])
        assert r["result"] == (0.0 if k == 0 else 1.0)  # GNU Go wins against random
        b.close()
        w.close()


def test_random_through_our_gtp_server_against_gtp_rhino():
    need(RHINO, "gtp-rhino", "grhino")
    ours = f"gtp:{OURS} --game othello --agent random --seed 4"
    rhino = f"gtp:{RHINO} -l 1"
    for k in range(4):
        specs = (ours, rhino) if k % 2 == 0 else (rhino, ours)
        b, w = (make_agent(s, "othello", 8, move_timeout=120) for s in specs)
        r = play_game(b, w, "othello", 8, seed=k)
        g = Game("othello", 8).play_all(r["moves"])
        assert r["reason"] == "end" and g.terminal
        # gtp-rhino's own count (empties to the winner) is ours, and so is our server's.
        assert b.final_score(g) == result_str(r["margin"])
        assert w.final_score(g) == result_str(r["margin"])
        b.close()
        w.close()


def test_engine_gets_our_komi_even_by_default():
    need(GNUGO, "GNU Go", "gnugo")
    for komi, want in ((None, "7.5"), (5.5, "5.5")):  # GNU Go's own default is not ours
        a = make_agent(f"gtp:{GNUGO} --mode gtp", "go", 9, komi)
        a.check()
        assert a.send("get_komi") == want
        a.close()
