"""``arena serve``: the page in a real headless Chromium (Playwright for Python driving Debian's
``/usr/bin/chromium``), the HTTP API's answers to bad input and failing agents, determinism, recorded
games, and the players' accessors the page reads (a search's principal variation, a sequence model's
distribution). One server, started as a user starts it (``arena serve --port 0``, a subprocess), serves
most tests of the file; Ctrl-C gets a server of its own. The tests of time limits, workers, idle games and
the cross-site checks of a server beyond localhost serve the app in this process (uvicorn in a thread),
with players of their own handed in (:func:`players`: one that sleeps, deaf to any stop; one that waits
at a gate; a search whose every leaf is slow), so what they time is the server's, not an engine's.

The browser test skips, saying why, when Chromium or Playwright is missing, and fails under ``CI=true``
(CI installs both: ``.ci/engines`` and the ``dev`` extra)."""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import asdict

import numpy as np
import pytest

from agents.players import Agent, MCTSAgent, RandomAgent
from agents.search.evaluators import UniformEvaluator
from envs.game import Game
from tests.conftest import IN_CI, need

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE = f"{sys.executable} {os.path.join(ROOT, 'tests', 'fake_gtp.py')}"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
AZ = "az:othello8,sims=16,inference=torch"  # the shipped net, few simulations, a fixed backend: fast and exact
HANG = 3  # seconds: the move limit of the crashing engine's game


# -- the server ------------------------------------------------------------------------------------------------

def results_dir(path):
    """A small tournament results directory: two random 6x6 Othello games, as ``arena tournament`` writes them."""
    from arena.tournament.config import TournamentConfig

    os.makedirs(path)
    cfg = TournamentConfig(game="othello", size=6, players=("random=random", "greedy=greedy"), games=2)
    with open(os.path.join(path, "tournament.json"), "w") as f:
        json.dump(asdict(cfg), f)
    rng = np.random.default_rng(1)
    with open(os.path.join(path, "games.jsonl"), "w") as f:
        for k in range(2):
            g = Game("othello", 6)
            while not g.terminal:
                g.play(int(rng.choice(g.legal_actions())))
            m = g.final_margin()
            rec = {"id": f"random|greedy|{k}", "pair": ["random", "greedy"], "k": k, "black": "random",
                   "white": "greedy", "result": 1.0 if m > 0 else 0.0 if m < 0 else 0.5, "margin": m, "reason": "end",
                   "moves": [g.move_str(a) for a in g.history], "plies": len(g.history), "opening_moves": 0}
            f.write(json.dumps(rec) + "\n")
        f.write('{"id": "torn')  # a killed run's last line: read around, never rewritten by the server


def start_server(log_path, *args):
    """``arena serve --port 0 ARGS`` as a user starts it: ``(process, url)`` once it prints its address."""
    with open(log_path, "w") as log:  # a file, not a pipe: nothing the server writes can block it
        p = subprocess.Popen([sys.executable, "-m", "arena.cli", "serve", "--port", "0", *args], cwd=ROOT, stdout=log,
                             stderr=subprocess.STDOUT)
    deadline, m = time.monotonic() + 120, None
    while time.monotonic() < deadline and p.poll() is None and not m:
        time.sleep(0.1)
        m = re.search(r"http://\S+/", log_path.read_text())
    if not m:
        p.kill()
        pytest.fail(f"arena serve did not start: {log_path.read_text()[-2000:]}")
    return p, m.group(0).rstrip("/")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    games = tmp_path_factory.mktemp("games")
    results_dir(str(games / "ladder_x"))
    os.makedirs(games / "broken")  # a tournament.json that is no config: skipped, said why, the others still listed
    (games / "broken" / "tournament.json").write_text("[]")
    log_path = games.parent / "serve.log"
    p, url = start_server(log_path, "--seed", "5", "--games", str(games), "--move-timeout", "120")
    yield url, str(games)
    p.terminate()
    try:
        p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
    assert "Traceback" not in log_path.read_text(), log_path.read_text()[-3000:]


# -- the app in this process, with players of its own --------------------------------------------------------

GATES = defaultdict(threading.Event)  # name -> the gate a Gate player waits at


class Uniform(Agent):
    """A model's policy head alone (``evaluate``: uniform over the legal moves, value 0), playing at random;
    as a player with a model, it plays a warm-up move when a game is made."""

    def evaluate(self, games):
        mask = getattr(games, "batch", games).legal_mask()
        return mask / mask.sum(axis=1, keepdims=True), np.zeros(len(mask), np.float32)

    def act(self, games, streams=None):
        return RandomAgent(self.seed).act(games)


class Sleeper(Uniform):
    """Sleeps ``seconds`` before its move (deaf to any stop, as a slow model's one call is); ``start``
    seconds in the start position, where a new game's warm-up move is played."""

    def __init__(self, seconds, start=0.0, seed=0):
        super().__init__(seed)
        self.seconds, self.start, self.name = seconds, start, f"sleep:{seconds}"

    def act(self, games, streams=None):
        time.sleep(self.seconds if getattr(games, "history", None) else self.start)
        return super().act(games)


class Gate(Uniform):
    """Waits at gate ``name`` (at most 30 s) before its move: in the start position only (its warm-up) or
    everywhere else only."""

    def __init__(self, name, at_start, seed=0):
        super().__init__(seed)
        self.gate, self.at_start = GATES[name], at_start

    def act(self, games, streams=None):
        if bool(getattr(games, "history", None)) != self.at_start:
            self.gate.wait(30)
        return super().act(games)


class BadReset(RandomAgent):
    """Plays at random, but fails to reset for a move (its reset with the game's own seed works)."""

    def reset(self, seed=None):
        if seed is not None and seed != self.seed:
            raise RuntimeError("reset broke")
        super().reset(seed)


class SlowLeaves(UniformEvaluator):
    """Uniform priors, each call taking ``delay`` seconds (0 until a test sets it): a slow net."""

    delay = 0.0

    def evaluate(self, obs, mask, leaves):
        time.sleep(self.delay)
        return super().evaluate(obs, mask, leaves)


def players(spec, game, size, komi=None, seed=0, move_timeout=30.0):
    """``arena.specs.make_agent``, and this file's players: ``sleep:S[:START]`` (:class:`Sleeper`),
    ``gate:NAME`` (waits at the gate for a move) and ``gatestart:NAME`` (for its warm-up) (:class:`Gate`),
    ``badreset`` (:class:`BadReset`), ``slowsearch`` (400 simulations of :class:`SlowLeaves`)."""
    from arena.specs import make_agent

    kind, _, arg = spec.partition(":")
    if kind == "sleep":
        seconds, _, start = arg.partition(":")
        return Sleeper(float(seconds), float(start or 0), seed)
    if kind in ("gate", "gatestart"):
        return Gate(arg, kind == "gatestart", seed)
    if kind == "badreset":
        return BadReset(seed)
    if kind == "slowsearch":
        return MCTSAgent(SlowLeaves(), simulations=400, seed=seed)
    return make_agent(spec, game, size, komi, seed=seed, move_timeout=move_timeout)


@contextmanager
def served(**kw):
    """``create_app(**kw)`` (with :func:`players`) served by uvicorn in a thread of this process: its URL
    and the app (its hub: ``app.state.hub``)."""
    import uvicorn

    from arena.serve.app import bind, create_app

    app = create_app(**{"make_agent": players, **kw})
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert t.is_alive() and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    finally:
        server.should_exit = True
        t.join(15)


def call(url, method, path, body=None, raw=None, headers=None, chunked=False):
    """``(status, content type, text)`` of one request; ``body`` is sent as JSON, ``raw`` as it is."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    h = {"Content-Type": "application/json"} if body is not None or raw is not None else {}
    h.update(headers or {})
    data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
    try:
        c.request(method, path, body=data, headers=h, encode_chunked=chunked)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type", ""), r.read().decode()
    finally:
        c.close()


def ok(url, method, path, body=None):
    status, _, text = call(url, method, path, body)
    assert status in (200, 201), f"{method} {path}: {status} {text[:300]}"
    return json.loads(text)


def refused(url, method, path, status, says, **kw):
    """The request gets ``status`` and one line of JSON, ``{"error": ...}``, containing ``says``."""
    got, ctype, text = call(url, method, path, **kw)
    assert got == status, f"{method} {path}: expected {status}, got {got}: {text[:300]}"
    assert ctype.startswith("application/json") and "\n" not in text.strip(), text[:300]
    err = json.loads(text)
    assert list(err) == ["error"] and "\n" not in err["error"] and says in err["error"], err
    return err["error"]


def test_the_page_offers_every_shipped_net_of_a_game():
    """Each game's menu holds the nets of models/ for it: 9x9 Go's zero-knowledge net with its variants,
    then the bootstrapped one (8x8 Othello's likewise); no Go net is offered for Othello or another board size."""
    from arena.serve.app import suggestions

    menus = suggestions(allow_gtp=False)
    assert menus["go9"][:4] == ["az:go9", "az:go9,sims=64", "az:go9,sims=0", "az:go9_boot"]
    assert menus["othello8"][:4] == ["az:othello8", "az:othello8,sims=64", "az:othello8,sims=0", "az:othello8_boot"]
    assert not [s for key in ("othello8", "go7") for s in menus[key] if s.startswith("az:go9")]


# -- the page in a real browser --------------------------------------------------------------------------------

def playwright_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        msg = "Playwright for Python is not installed (pip install -e '.[dev]'; no browser download needed)"
        if IN_CI:
            pytest.fail(f"{msg}, and CI=true requires it")
        pytest.skip(f"{msg}: test skipped")
    return sync_playwright


def test_page_plays_shows_the_search_and_refuses_an_illegal_click_in_headless_chromium(server):
    need(CHROMIUM, "Chromium", "chromium")
    sync_playwright = playwright_or_skip()
    url, _ = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 850})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url + "/")
            page.wait_for_selector("#p-game option", state="attached")
            page.fill("#p-agent", AZ)
            page.select_option("#p-colour", "black")
            page.click("#p-new")
            page.wait_for_selector("#board rect.cell.legal")
            assert sorted(page.eval_on_selector_all("#board rect.cell.legal", "es => es.map(e => e.dataset.move)")) == \
                ["c4", "d3", "e6", "f5"]
            gid = page.evaluate("sessionStorage.getItem('arena-serve-play')")

            page.click('#board rect.cell[data-move="a1"]')  # not a legal move: refused, nothing played
            page.wait_for_selector("#error:not([hidden])")
            assert "illegal move a1" in page.inner_text("#error")
            assert page.get_attribute("#board", "data-ply") == "0"

            page.click('#board rect.cell[data-move="f5"]')
            page.wait_for_function("document.getElementById('board').dataset.ply === '2'", timeout=60_000)
            st = ok(url, "GET", f"/api/games/{gid}")
            reply = st["moves"][1]
            assert st["moves"][0] == "f5" and page.is_hidden("#error")
            board = st["boards"][2]  # the DOM's stones are the server's board
            for colour, mark in (("black", "x"), ("white", "o")):
                drawn = page.eval_on_selector_all(f"#board circle.stone.{colour}", "es => es.map(e => e.dataset.move)")
                assert sorted(drawn) == sorted(st["names"][i] for i, c in enumerate(board) if c == mark)
            assert reply in page.eval_on_selector_all("#board circle.stone.white", "es => es.map(e => e.dataset.move)")

            # the heat-map of the reply's search: its visit shares, on the squares it searched
            heat = dict(page.eval_on_selector_all("#board rect.heat",
                                                  "es => es.map(e => [e.dataset.move, +e.dataset.share])"))
            think = st["thinking"]["1"]
            assert think["kind"] == "search" and think["simulations"] == 16 and think["move"] == reply
            assert heat == pytest.approx(think["heat"]) and reply in heat
            assert sum(heat.values()) == pytest.approx(1, abs=1e-3)
            assert set(heat) <= set(Game("othello", 8).play("f5").legal_moves())
            win = float(page.inner_text("#t-win").rstrip("%"))
            assert 0 <= win <= 100 and win == pytest.approx(100 * think["win"], abs=0.6)
            assert page.inner_text("#t-line").split()[0] == reply

            # an analysis of the person's position: the heat-map moves to it
            page.click("#p-analyse")
            page.wait_for_selector("#t-body >> text=Analysis by")
            st = ok(url, "GET", f"/api/games/{gid}")
            heat = page.eval_on_selector_all("#board rect.heat", "es => es.map(e => e.dataset.move)")
            assert heat and set(heat) <= set(st["legal"]) and st["analysis"]["2"]["side"] == "black"

            page.click("#p-undo")  # the person's move and the reply go back
            page.wait_for_function("document.getElementById('board').dataset.ply === '0'")
            assert len(page.query_selector_all("#board rect.cell.legal")) == 4

            # a second tab has its own game: two agents, move by move, to the end
            watch = browser.new_page()
            watch.on("pageerror", lambda e: errors.append(str(e)))
            watch.goto(url + "/")
            watch.wait_for_selector("#p-game option", state="attached")
            watch.click("#tabs button[data-tab=watch]")
            watch.select_option("#w-game", "othello:6")
            watch.fill("#w-black", "mcts:rollouts=20000")  # a second or so a move
            watch.fill("#w-white", "mcts:rollouts=20000")
            watch.select_option("#w-delay", "0")
            watch.click("#w-start")
            watch.wait_for_function("document.getElementById('status').textContent.includes('is thinking')",
                                    timeout=60_000)
            first = watch.evaluate("sessionStorage.getItem('arena-serve-watch')")
            watch.fill("#w-black", "greedy")  # Start again during that move: the page follows the new game only
            watch.fill("#w-white", "random")
            watch.click("#w-start")
            watch.wait_for_selector("#result", timeout=60_000)
            wid = watch.evaluate("sessionStorage.getItem('arena-serve-watch')")
            w = ok(url, "GET", f"/api/games/{wid}")
            assert wid not in (gid, first) and w["over"] and watch.inner_text("#result") == w["result"]
            assert w["players"] == {"black": "greedy", "white": "random"} and w["thinking"] == {}
            assert watch.get_attribute("#board", "data-ply") == str(w["ply"])
            assert watch.evaluate("sessionStorage.getItem('arena-serve-watch')") == wid
            refused(url, "GET", f"/api/games/{first}", 404, "no game")  # dropped when replaced, mid-move
            assert ok(url, "GET", f"/api/games/{gid}")["ply"] == 0  # the first tab's game is untouched
            assert not errors, errors
        finally:
            browser.close()


# -- the HTTP API ----------------------------------------------------------------------------------------------

def test_bad_input_gets_a_4xx_with_one_line_of_json_and_the_server_stays_up(server):
    url, games = server
    gid = ok(url, "POST", "/api/games", {"game": "othello", "size": 8, "black": "human", "white": "greedy"})["id"]
    g = f"/api/games/{gid}"
    refused(url, "POST", g + "/move", 400, "illegal move a1: not legal here", body={"move": "a1"})
    refused(url, "POST", g + "/move", 400, "out of range", body={"move": 999})
    refused(url, "POST", g + "/move", 400, "not a move", body={"move": "z99"})
    refused(url, "POST", g + "/move", 400, "pass is not allowed here", body={"move": "pass"})
    refused(url, "POST", g + "/move", 400, "move must be", body={"move": [1, 2]})
    refused(url, "POST", g + "/move", 400, '{"move": MOVE}', body={"mvoe": "f5"})
    refused(url, "POST", g + "/move", 400, "malformed JSON", raw=b'{"move": ')
    refused(url, "POST", g + "/move", 400, "malformed JSON", raw=b"\xff\xfe")
    refused(url, "POST", g + "/move", 400, "must be a JSON object", raw=b'["f5"]')
    refused(url, "POST", g + "/step", 409, "a person plays black")
    refused(url, "POST", "/api/games", 400, "unknown game 'chess'", body={"game": "chess"})
    refused(url, "POST", "/api/games", 400, "unknown size '13' for go", body={"game": "go", "size": 13})
    refused(url, "POST", "/api/games", 400, "unknown size '7' for othello", body={"size": 7})
    refused(url, "POST", "/api/games", 400, "komi applies to Go only", body={"komi": 6.5})
    refused(url, "POST", "/api/games", 400, "unknown agent spec 'bogus:1'", body={"white": "bogus:1"})
    refused(url, "POST", "/api/games", 400, "bad agent spec", body={"white": "az:othello8,sims=x"})
    refused(url, "POST", "/api/games", 400, "trained on othello 8x8", body={"size": 6, "white": "seq:othello8"})
    refused(url, "POST", "/api/games", 400, "at most 100000 simulations", body={"white": "mcts:rollouts=1000000"})
    # rollouts per leaf count too: 1000 simulations of 1000 rollouts each would take a worker for hours
    refused(url, "POST", "/api/games", 400, "not 1000 x 1000", body={"white": "mcts:rollouts=1000,per_leaf=1000"})
    refused(url, "POST", "/api/games", 400, "at most 100000", body={"white": "az:othello8,sims=200000,time=1"})
    refused(url, "POST", "/api/games", 400, "replaces must be", body={"replaces": 7})
    refused(url, "POST", "/api/games", 400, "unknown field 'colour'", body={"colour": "black"})
    refused(url, "POST", "/api/games", 400, "GTP engine", body={"white": "gtp:/nonexistent/engine --gtp"})
    refused(url, "POST", "/api/games", 413, "request body over 64 KiB", raw=b"x" * 100_000)
    refused(url, "POST", "/api/games", 413, "request body over 64 KiB", raw=iter([b" " * 40_000] * 3), chunked=True)
    refused(url, "POST", "/api/games", 415, "must be JSON", raw=b"{}", headers={"Content-Type": "text/plain"})
    refused(url, "POST", "/api/games", 403, "cross-site", body={}, headers={"Origin": "http://evil.example"})
    refused(url, "POST", "/api/games", 403, "cross-site", body={}, headers={"Sec-Fetch-Site": "cross-site"})
    refused(url, "POST", g + "/move", 400, "malformed JSON", raw=b'{"move": ' + b"7" * 5000 + b"}")  # int()'s limit
    refused(url, "POST", g + "/move", 400, "malformed JSON", raw=b"[" * 60_000)  # nested past the recursion limit
    refused(url, "GET", "/api/info", 400, "bad Host header", headers={"Host": "evil.example"})
    refused(url, "GET", "/api/games/nope", 404, "no game 'nope'")
    refused(url, "POST", "/api/games/nope/move", 404, "no game 'nope'", body={"move": "f5"})
    refused(url, "PUT", "/api/games", 405, "PUT is not allowed")
    refused(url, "GET", "/nothing/here", 404, "not found")
    refused(url, "GET", "/static/../../pyproject.toml", 404, "not found")
    refused(url, "GET", "/static/%2e%2e/%2e%2e/pyproject.toml", 404, "not found")
    refused(url, "GET", "/api/records/games?dir=../..", 404, "no results directory")
    refused(url, "GET", "/api/records/game?dir=ladder_x&i=x", 400, "i must be")
    refused(url, "GET", "/api/records/game?dir=ladder_x&i=%C2%B2", 400, "i must be")  # "²": a digit, not an int
    refused(url, "GET", "/api/records/game?dir=ladder_x&i=" + "9" * 5000, 400, "i must be")
    refused(url, "GET", "/api/records/games?dir=broken", 404, "no results directory")
    dirs = ok(url, "GET", "/api/records")  # one directory that is no tournament's breaks none of the others
    assert [d["name"] for d in dirs["directories"]] == ["ladder_x"]
    assert [d["name"] for d in dirs["skipped"]] == ["broken"] and "AttributeError" in dirs["skipped"][0]["error"]
    refused(url, "GET", "/api/records/game?dir=ladder_x&i=7", 404, "no game '7'")

    # a page of another site posting as text/plain (no preflight) cannot make the server run a command
    pwned = os.path.join(games, "pwned")
    attack = json.dumps({"white": f"gtp:/usr/bin/touch {pwned}"}).encode()
    refused(url, "POST", "/api/games", 415, "must be JSON", raw=attack, headers={"Content-Type": "text/plain"})
    refused(url, "POST", "/api/games", 403, "cross-site", raw=attack, headers={"Origin": "http://evil.example"})
    assert not os.path.exists(pwned)

    # still up, and the game is where it was
    assert ok(url, "GET", "/api/info")["games"] == {"othello": [8, 6], "go": [9, 7, 5]}
    assert ok(url, "POST", g + "/move", {"move": "f5"})["ply"] == 1
    st = ok(url, "POST", g + "/step", None)
    assert st["ply"] == 2 and st["thinking"] == {}  # greedy shows no thinking
    refused(url, "POST", g + "/analyse", 409, "no agent in this game shows its thinking")
    assert call(url, "GET", "/")[0] == 200 and call(url, "GET", "/static/app.js")[0] == 200


def test_a_crashing_engine_forfeits_with_a_message(server):
    url, _ = server
    refused(url, "POST", "/api/games", 400, "move_timeout must be", body={"move_timeout": 500})
    body = {"black": "human", "white": f"gtp:{FAKE} crash", "move_timeout": HANG}
    gid = ok(url, "POST", "/api/games", body)["id"]
    ok(url, "POST", f"/api/games/{gid}/move", {"move": "d3"})
    st = ok(url, "POST", f"/api/games/{gid}/step")
    assert st["over"] and st["reason"] == "forfeit" and st["winner"] == "black" and st["result"] == "B+F"
    assert f"white (gtp:{FAKE} crash) forfeits: engine exited" in st["message"], st["message"]
    refused(url, "POST", f"/api/games/{gid}/move", 409, "the game is over", body={"move": "c3"})
    assert not ok(url, "POST", f"/api/games/{gid}/undo")["over"]  # undo takes the forfeit back
    ok(url, "DELETE", f"/api/games/{gid}")
    refused(url, "GET", f"/api/games/{gid}", 404, "no game")
    assert ok(url, "GET", "/api/info")["seed"] == 5


def test_same_seed_and_moves_give_the_same_replies(server):
    url, _ = server

    def play(seed, undo=False, analyse=False, replaces=None):
        body = {"black": "human", "white": "mcts:rollouts=24", "seed": seed}
        gid = ok(url, "POST", "/api/games", {**body, **({"replaces": replaces} if replaces else {})})["id"]
        st = None
        for k in range(3):
            st = ok(url, "GET", f"/api/games/{gid}")
            if analyse:  # the agent searches the person's position first (its search is not played)
                st = ok(url, "POST", f"/api/games/{gid}/analyse")
                assert st["analysis"][str(st["ply"])]["simulations"] == 24 and st["ply"] == 2 * k
            ok(url, "POST", f"/api/games/{gid}/move", {"move": st["legal"][0]})
            st = ok(url, "POST", f"/api/games/{gid}/step")
            if undo and k == 1:  # take it back and play it again: the same reply
                again = st["moves"][-1]
                ok(url, "POST", f"/api/games/{gid}/undo")
                ok(url, "POST", f"/api/games/{gid}/move", {"move": st["moves"][-2]})
                st = ok(url, "POST", f"/api/games/{gid}/step")
                assert st["moves"][-1] == again
        return gid, st["moves"]

    first, a = play(11)
    second, b = play(11, undo=True, replaces=first)  # the tab's new game takes over the old one's agent
    assert b == a and len(a) == 6
    refused(url, "GET", f"/api/games/{first}", 404, "no game")  # replaced: dropped
    assert play(11, analyse=True)[1] == a  # an analysis before each reply changes none of them
    assert any(play(s)[1] != a for s in (12, 13, 14))  # another seed, other rollouts (not all alike)


def test_go_pass_resign_and_sgf(server):
    url, _ = server
    st = ok(url, "POST", "/api/games", {"game": "go", "size": 5, "komi": 3.5, "black": "human", "white": "greedy"})
    gid = st["id"]
    assert st["komi"] == 3.5 and "pass" in st["legal"] and len(st["names"]) == 26
    ok(url, "POST", f"/api/games/{gid}/move", {"move": "pass"})
    st = ok(url, "POST", f"/api/games/{gid}/step")
    assert st["ply"] == 2 and st["waiting"] == "human"
    st = ok(url, "POST", f"/api/games/{gid}/resign")
    assert st["over"] and st["result"] == "W+R" and st["reason"] == "resign"
    status, ctype, sgf = call(url, "GET", f"/api/games/{gid}/record")
    assert status == 200 and ctype.startswith("application/x-go-sgf")
    g = Game.from_sgf(sgf)
    assert g.history == st["actions"] and "RE[W+R]" in sgf and "KM[3.5]" in sgf and "PB[human]" in sgf
    oth = ok(url, "POST", "/api/games", {"black": "human", "white": "greedy"})["id"]
    ok(url, "POST", f"/api/games/{oth}/move", {"move": "f5"})
    moves = ok(url, "POST", f"/api/games/{oth}/step")["moves"]
    status, ctype, text = call(url, "GET", f"/api/games/{oth}/record")
    assert status == 200 and text == "".join(moves) + "\n"


def test_recorded_games_of_the_games_directory(server):
    url, games = server
    dirs = ok(url, "GET", "/api/records")["directories"]
    assert dirs == [{"name": "ladder_x", "game": "othello", "size": 6, "games": 2}]
    listed = ok(url, "GET", "/api/records/games?dir=ladder_x")["games"]
    assert [g["id"] for g in listed] == ["random|greedy|0", "random|greedy|1"]
    one = ok(url, "GET", "/api/records/game?dir=ladder_x&i=1")
    g = Game("othello", 6).play_all(one["moves"])
    assert len(one["boards"]) == len(one["actions"]) + 1 and one["actions"] == g.history
    assert one["boards"][-1].count("x") == int((g.cells() == 1).sum())
    with open(os.path.join(games, "ladder_x", "games.jsonl")) as f:
        assert f.read().endswith('{"id": "torn')  # read, not repaired: a tournament may still be writing it


# -- Ctrl-C, time limits, workers, idle games, takeovers ----------------------------------------------------

def test_ctrl_c_stops_the_server_while_a_search_runs(tmp_path):
    log_path = tmp_path / "serve.log"
    p, url = start_server(log_path, "--move-timeout", "120")
    try:
        # a new game's warm-up: a search of about ten seconds here, the most a move may hold
        body = {"game": "go", "size": 9, "black": "mcts:rollouts=100000", "white": "human"}
        threading.Thread(target=lambda: call(url, "POST", "/api/games", body), daemon=True).start()
        time.sleep(1.5)
        assert p.poll() is None
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        rc = p.wait(20)
        assert time.monotonic() - t0 < 5, "the server waited for the search to end"
    finally:
        if p.poll() is None:
            p.kill()
    text = log_path.read_text()
    assert rc == 130 and "arena: interrupted" in text and "Traceback" not in text, text[-3000:]


def test_a_move_past_its_limit_forfeits_by_the_servers_own_clock():
    with served(move_timeout=10) as (url, _):
        gid = ok(url, "POST", "/api/games", {"black": "human", "white": "sleep:4", "move_timeout": 1})["id"]
        ok(url, "POST", f"/api/games/{gid}/move", {"move": "f5"})
        t0 = time.monotonic()
        st = ok(url, "POST", f"/api/games/{gid}/step")
        assert 1 <= time.monotonic() - t0 < 2.5
        assert st["over"] and st["result"] == "B+F" and st["message"] == "white (sleep:4) forfeits: no move within 1 s"
        # its thread sleeps on, holding white: undo takes the forfeit back, the next move waits for it
        assert not ok(url, "POST", f"/api/games/{gid}/undo")["over"]
        refused(url, "POST", f"/api/games/{gid}/step", 409, "still busy with a move that ran out of time")

        # a new game's warm-up has the same limit: refused at it, not when the player is done
        t0 = time.monotonic()
        refused(url, "POST", "/api/games", 400, "made no first move within 1 s",
                body={"black": "human", "white": "sleep:0:4", "move_timeout": 1})
        assert time.monotonic() - t0 < 2.5


def test_a_busy_worker_holds_up_no_other_game_and_no_clock():
    with served(workers=1, move_timeout=10) as (url, _):
        slow = ok(url, "POST", "/api/games", {"black": "human", "white": "sleep:2.5", "move_timeout": 1})["id"]
        quick = ok(url, "POST", "/api/games", {"black": "human", "white": "sleep:0.5", "move_timeout": 1})["id"]
        for gid in (slow, quick):
            ok(url, "POST", f"/api/games/{gid}/move", {"move": "f5"})
        late = {}
        thread = threading.Thread(target=lambda: late.update(ok(url, "POST", f"/api/games/{slow}/step")))
        thread.start()
        time.sleep(0.3)  # the slow move holds the only worker, past its limit, for 2.5 s
        t0 = time.monotonic()
        refused(url, "POST", f"/api/games/{quick}/step", 503, "all 1 search workers are busy")
        for path in (f"/api/games/{slow}/record", "/api/records", f"/api/games/{quick}"):
            assert call(url, "GET", path)[0] == 200
        other = ok(url, "POST", "/api/games", {"black": "human", "white": "greedy"})["id"]  # no warm-up to wait for
        ok(url, "POST", f"/api/games/{other}/move", {"move": "f5"})
        assert time.monotonic() - t0 < 1  # none of it waited for the worker
        thread.join(10)
        assert "no move within 1 s" in late["message"]
        deadline = time.monotonic() + 5
        while call(url, "POST", f"/api/games/{quick}/step")[0] == 503:  # free once the slow thread ends
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # it was never queued behind the slow move, so its clock never ran while it waited: a 0.5 s move
        # under a 1 s limit, played
        st = ok(url, "GET", f"/api/games/{quick}")
        assert st["ply"] == 2 and not st["over"] and st["thinking"]["1"]["seconds"] >= 0.5


def test_a_search_past_its_limit_stops_and_frees_its_worker():
    with served(workers=1, move_timeout=10) as (url, app):
        gid = ok(url, "POST", "/api/games", {"black": "human", "white": "slowsearch", "move_timeout": 1})["id"]
        app.state.hub.sessions[gid].sides[1].agent.evaluator.delay = 0.05  # 400 leaves: 20 s a move from now
        ok(url, "POST", f"/api/games/{gid}/move", {"move": "f5"})
        t0 = time.monotonic()
        st = ok(url, "POST", f"/api/games/{gid}/step")
        assert time.monotonic() - t0 < 2.5 and st["message"] == "white (slowsearch) forfeits: no move within 1 s"
        other = ok(url, "POST", "/api/games", {"black": "human", "white": "greedy"})["id"]
        ok(url, "POST", f"/api/games/{other}/move", {"move": "f5"})
        deadline = time.monotonic() + 0.5  # the search stops at its next leaf: the worker is free at once
        while call(url, "POST", f"/api/games/{other}/step")[0] == 503:
            assert time.monotonic() < deadline, "the stopped search still holds the worker"
            time.sleep(0.02)
        assert ok(url, "GET", f"/api/games/{other}")["ply"] == 2
        assert not ok(url, "POST", f"/api/games/{gid}/undo")["over"]  # and its side is free again
        app.state.hub.sessions[gid].sides[1].agent.evaluator.delay = 0
        assert ok(url, "POST", f"/api/games/{gid}/step")["ply"] == 2


def test_idle_games_are_dropped_and_their_engines_closed():
    with served(idle_seconds=0.3) as (url, app):
        gid = ok(url, "POST", "/api/games", {"black": "human", "white": f"gtp:{FAKE} crash"})["id"]
        engine = app.state.hub.sessions[gid].sides[1].agent.engine.proc
        assert engine.poll() is None
        deadline = time.monotonic() + 10
        while engine.poll() is None or gid in app.state.hub.sessions:
            assert time.monotonic() < deadline, "the idle game was kept"
            time.sleep(0.05)
        refused(url, "GET", f"/api/games/{gid}", 404, "no game")


def test_a_new_game_takes_over_only_idle_agents_and_a_job_keeps_its_side():
    from arena.serve.hub import Hub
    from arena.serve.sessions import Side

    hub = Hub(workers=2, make_agent=players)
    try:
        # an idle old game: its agent goes to the new game, which the old one no longer runs or closes
        old = hub.create({"black": "human", "white": "mcts:rollouts=8"})
        agent = old.sides[1].agent
        new = hub.create({"black": "human", "white": "mcts:rollouts=8", "replaces": old.id})
        assert new.sides[1].agent is agent and old.sides[1].human and old.retired
        with pytest.raises(Exception, match="no game"):
            hub.get(old.id)

        # a busy old game keeps its agent (its job runs on with it); it is dropped at once all the same
        old = hub.create({"black": "human", "white": "gate:busy"})
        old.move("f5")
        job, done = hub.launch(old, "move")
        new = hub.create({"black": "human", "white": "gate:busy", "replaces": old.id})
        assert new.sides[1].agent is not job.side.agent and old.retired
        GATES["busy"].set()
        done.result(10)
        assert old.busy is None and not job.side.lock.locked()
        new.move("f5")
        hub.launch(new, "move")[1].result(10)
        assert new.state()["ply"] == 2

        # two new games replacing one old game: only the first gets its agent
        old = hub.create({"black": "human", "white": "mcts:rollouts=8"})
        agent = old.sides[1].agent
        first = {}
        body = {"black": "gatestart:two", "white": "mcts:rollouts=8", "replaces": old.id}
        thread = threading.Thread(target=lambda: first.update(s=hub.create(body)))
        thread.start()  # takes white's agent, then waits in black's warm-up
        deadline = time.monotonic() + 10
        while not old.sides[1].human:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        second = hub.create({"black": "human", "white": "mcts:rollouts=8", "replaces": old.id})
        GATES["two"].set()
        thread.join(10)
        assert first["s"].sides[1].agent is agent and second.sides[1].agent is not agent

        # a job runs the side it was begun for, whatever the game's sides are by then
        old = hub.create({"black": "human", "white": "random"})
        old.move("f5")
        job = old.begin("move")
        old.sides[1] = Side()  # what a takeover did to the old game before it took the game's lock
        job.run()
        assert old.state()["ply"] == 2 and old.busy is None and not job.side.lock.locked()

        # a job that fails outside the agent's move still ends: the game is not left busy
        bad = hub.create({"black": "human", "white": "badreset"})
        bad.move("f5")
        hub.launch(bad, "move")[1].result(10)
        st = bad.state()
        assert st["busy"] is None and st["result"] == "B+F" and "failed: RuntimeError: reset broke" in st["message"]
        assert not bad.sides[1].lock.locked()
    finally:
        for gate in GATES.values():
            gate.set()
        hub.close()


def test_a_server_beyond_localhost_refuses_cross_site_posts_too(tmp_path):
    pwned = tmp_path / "pwned"
    attack = json.dumps({"white": f"gtp:/usr/bin/touch {pwned}"}).encode()
    with served(local=False, allow_gtp=True) as (url, _):
        refused(url, "POST", "/api/games", 415, "must be JSON", raw=attack, headers={"Content-Type": "text/plain"})
        refused(url, "POST", "/api/games", 415, "must be JSON", raw=attack, headers={"Content-Type": ""})
        refused(url, "POST", "/api/games", 403, "cross-site", raw=attack, headers={"Origin": "http://evil.example"})
        refused(url, "POST", "/api/games", 403, "cross-site", raw=attack, headers={"Sec-Fetch-Site": "cross-site"})
        assert not pwned.exists()
        assert call(url, "GET", "/api/info", headers={"Host": "arena.example:8000"})[0] == 200  # any name reaches it
        origin = {"Origin": url, "Sec-Fetch-Site": "same-origin"}  # the page itself
        status, _, text = call(url, "POST", "/api/games", {"black": "human", "white": "greedy"}, headers=origin)
        assert status == 201, text


# -- the accessors the page reads ------------------------------------------------------------------------------

def test_principal_variation_follows_the_most_visited_children():
    g = Game("othello", 6)
    agent = MCTSAgent(simulations=64, seed=3)
    a = int(agent.act(g)[0])
    pv = agent.principal_variation()
    visits = agent.last_search.visits[0]
    assert pv[0] == (a, int(visits[a])) and a == int(np.argmax(visits))
    assert all(n1 >= n2 for (_, n1), (_, n2) in zip(pv, pv[1:])) and len(pv) >= 3
    g.play_all([m for m, _ in pv])  # a line of legal moves
    assert agent.principal_variation(max_length=2) == pv[:2]
    agent.reset()
    assert agent.principal_variation() == [] and agent.last_search is None


def test_sequence_model_distribution_matches_its_move():
    from arena.specs import make_agent

    agent = make_agent("seq:othello8", "othello", 8)
    g = Game("othello", 8).play_all(["f5", "d6", "c3"])
    a = int(agent.act(g)[0])
    p = agent.distribution(g)
    legal = g.legal_actions()
    assert p.sum() == pytest.approx(1) and set(np.flatnonzero(p)) <= set(legal) and int(np.argmax(p)) == a
    raw = agent.distribution(g, legal_only=False)
    # the raw model puts some of its mass on illegal squares; on the legal ones, renormalised, it is exactly
    # the distribution the player plays by (one softmax of the same logits over fewer tokens)
    mass = raw[legal].sum()
    assert raw.sum() == pytest.approx(1, abs=1e-5) and 0 < mass < 1
    assert raw[legal] / mass == pytest.approx(p[legal], rel=1e-4, abs=1e-9)
