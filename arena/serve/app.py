"""The web app of ``arena serve``: Starlette routes over :mod:`arena.serve.hub` (its games:
:mod:`arena.serve.sessions`) and :mod:`arena.serve.records`, the page in ``static/``, and :func:`serve`,
which runs it under uvicorn.

    GET    /                                   the page (static/index.html, app.js, style.css)
    GET    /api/info                           games, sizes, komi, suggested agents, the server's settings
    POST   /api/games                          a new game: {game, size, komi, black, white, seed, replaces}
    GET    /api/games/{id}                     its state
    DELETE /api/games/{id}                     drop it (an external engine is closed)
    POST   /api/games/{id}/move                the person to move plays: {move: "f5" | "D4" | "pass" | action}
    POST   /api/games/{id}/step                the agent to move plays one move (what it thought comes with it)
    POST   /api/games/{id}/analyse             an agent's analysis of the position, not played: {side}
    POST   /api/games/{id}/undo                take back a resignation/forfeit, or the person's last move
    POST   /api/games/{id}/resign              the person resigns
    GET    /api/games/{id}/record              the game as SGF (Go) or a transcript (Othello), to download
    GET    /api/records                        the results directories under --games
    GET    /api/records/games?dir=NAME         one directory's games
    GET    /api/records/game?dir=NAME&i=K      one game, with the board after every ply

Every error is a 4xx (5xx for the server's own failure) with one line of JSON, ``{"error": "..."}``,
and the server stays up. Agents think in threads of their own, at most ``workers`` at once, never on the
event loop (arena.serve.hub: a move or analysis asked for while all are busy is a 503, and a move's
clock starts when its thread does); an agent's move that takes longer than ``move_timeout`` seconds
forfeits the game (a search stops there; another agent's thread runs on to its end, its result dropped),
and an analysis that does is given up. What else needs a thread (building a new game's agents, reading
results directories) runs in threads of its own too, so it never waits for a search; the rest (moves,
undo, a game's state or record) runs on the event loop, which nothing holds long. Idle games are swept
every minute or so.

Whatever the address, the app refuses cross-site requests that change something, since a request can
name a ``gtp:`` command for the server to run: a POST or DELETE whose ``Origin`` is not its own (or whose
``Sec-Fetch-Site`` says another site) is a 403, and a body that is not ``application/json`` a 415 (a
cross-site form or a "simple" fetch cannot send one). Served on a loopback address (the default) it also
answers only requests whose ``Host`` is a loopback name (a DNS-rebinding page gets a 400); on another
address ``gtp:`` specs are refused unless ``allow_gtp``.
"""

import asyncio
import ipaddress
import json
import logging
import os
import socket
import sys
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from arena.serve.hub import SIZES, Hub
from arena.serve.records import Records
from arena.serve.sessions import Refused, one_line
from arena.serve.thinking import spawn
from arena.specs import MODELS, SHIPPED, SHIPPED_SEQ
from envs.go_kernels import default_komi

log = logging.getLogger("arena.serve")

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
MAX_BODY = 64 * 1024  # bytes of a request body: a move or a spec is a few dozen
MAX_INDEX = 9         # digits of a record's index in a query
OFF_LOOP = 4          # threads at once for what is not a search (reading results directories, building agents),
                      # beyond one per worker (a new game waits for its warm-up search in one)
SWEEP_SECONDS = 60.0  # how often idle games are looked for (more often when the idle limit is short)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]", "::1"}
ENGINES = {"othello8": ("/usr/games/gtp-rhino", "gtp:/usr/games/gtp-rhino -l 1"),
           "go9": ("/usr/games/gnugo", "gtp:/usr/games/gnugo --mode gtp --level 1 --chinese-rules --capture-all-dead")}


def is_loopback(host):
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def error(status, message):
    return JSONResponse({"error": one_line(message)}, status_code=status)


# -- requests --------------------------------------------------------------------------------------------------

class Guard:
    """ASGI middleware run before any route. A body over ``MAX_BODY`` (by its Content-Length) is a 413.
    A POST or DELETE from another origin (an ``Origin`` that is not this server's own, or a
    ``Sec-Fetch-Site`` of another site) is a 403, and one with a body that is not JSON a 415 (a cross-site
    form cannot send one), whatever the address the server listens on. On a loopback server (``local``) a
    Host that is not a loopback name is a 400 (DNS rebinding)."""

    def __init__(self, app, local=True):
        self.app, self.local = app, local

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = self.refusal(scope)
        if refusal is not None:
            return await error(*refusal)(scope, receive, send)
        return await self.app(scope, receive, send)

    def refusal(self, scope):
        """``(status, message)`` for a request to refuse, else None."""
        h = Headers(scope=scope)
        host = h.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        length = h.get("content-length")
        if length is not None and not (length.isascii() and length.isdigit()):
            return 400, "bad Content-Length"
        if length is not None and (len(length) > 12 or int(length) > MAX_BODY):
            return 413, f"request body over {MAX_BODY // 1024} KiB"
        if self.local and not is_loopback(name.lower()):
            return 400, f"bad Host header {host[:60]!r}: this server answers to localhost only"
        if scope["method"] in SAFE_METHODS:
            return None
        origin, site = h.get("origin"), h.get("sec-fetch-site")
        if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
            return 403, f"cross-site request from {origin[:60]!r} refused"
        if site is not None and site not in ("same-origin", "none"):
            return 403, f"cross-site request ({site[:20]}) refused"
        if (length not in (None, "0") or "transfer-encoding" in h) and not is_json(h.get("content-type")):
            return 415, "a request body must be JSON (Content-Type: application/json)"
        return None


def is_json(content_type):
    return (content_type or "").split(";")[0].strip().lower() == "application/json"


async def read_json(request):
    """The request's JSON object; ``{}`` for an empty body. A body that is not ``application/json``, is
    not JSON (a number too long for Python's int included), or is over ``MAX_BODY`` (sent without a
    Content-Length) is refused."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Refused(413, f"request body over {MAX_BODY // 1024} KiB")
    if not body.strip():
        return {}
    if not is_json(request.headers.get("content-type")):
        raise Refused(415, "a request body must be JSON (Content-Type: application/json)")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError, and int()'s digit limit
        raise Refused(400, f"malformed JSON: {e}") from None
    except RecursionError:
        raise Refused(400, "malformed JSON: nested too deep") from None
    if not isinstance(data, dict):
        raise Refused(400, "the body must be a JSON object")
    return data


# -- the app ---------------------------------------------------------------------------------------------------

def suggestions(allow_gtp):
    """Agent specs the page offers for each game and size: the shipped nets present in models/, the
    baselines, and the Debian engines that are installed."""
    out = {}
    for game, sizes in SIZES.items():
        for n in sizes:
            key, specs = f"{game}{n}", []
            if key in SHIPPED and os.path.exists(os.path.join(MODELS, f"{key}.pt")):
                specs += [f"az:{key}", f"az:{key},sims=64", f"az:{key},sims=0"]
            specs += [f"az:{name}" for name, where in SHIPPED.items()  # the game's other nets (az:go9_boot)
                      if name != key and where == (game, n) and os.path.exists(os.path.join(MODELS, f"{name}.pt"))]
            if key in SHIPPED_SEQ and os.path.exists(os.path.join(MODELS, f"{SHIPPED_SEQ[key]}.pt")):
                specs.append(f"seq:{key}")
            specs += ["mcts:rollouts=200", "mcts:rollouts=1000", "greedy", "random"]
            if allow_gtp and key in ENGINES and os.path.exists(ENGINES[key][0]):
                specs.append(ENGINES[key][1])
            out[key] = specs
    return out


def create_app(seed=0, games_dir="runs", move_timeout=60.0, local=True, allow_gtp=None, max_games=32,
               workers=4, idle_seconds=3600.0, make_agent=None):
    """The Starlette app. ``local``: it is served on a loopback address (the Host check of
    :class:`Guard`); ``allow_gtp``: whether a request may name a ``gtp:`` engine (default: when local);
    ``workers``: agents thinking at once; ``idle_seconds``: a game untouched that long is dropped;
    ``make_agent``: what builds a side's agent from its spec (arena.specs.make_agent by default)."""
    allow_gtp = local if allow_gtp is None else bool(allow_gtp)
    hub = Hub(seed=seed, move_timeout=move_timeout, allow_gtp=allow_gtp, max_games=max_games,
              idle_seconds=idle_seconds, workers=workers, **({"make_agent": make_agent} if make_agent else {}))
    records = Records(games_dir)
    off_loop_slots = asyncio.Semaphore(hub.workers + OFF_LOOP)
    info = {"games": {g: list(s) for g, s in SIZES.items()}, "komi": {str(n): default_komi(n) for n in SIZES["go"]},
            "suggestions": suggestions(allow_gtp), "seed": hub.seed, "move_timeout": hub.move_timeout,
            "workers": hub.workers, "gtp": allow_gtp, "games_dir": games_dir}

    async def off_loop(fn, *args):
        """``fn(*args)`` in a thread of its own (not a search's: it never waits for one)."""
        async with off_loop_slots:
            return await asyncio.wrap_future(spawn(lambda: fn(*args), name="arena-serve-io"))

    async def run_job(s, kind, side=None):
        """The agent's move or analysis, until it ends or its clock (from its thread's start) runs out:
        then a move forfeits and an analysis is given up; the thread goes on (a search stops at once)."""
        job, done = hub.launch(s, kind, side)
        ended = asyncio.wrap_future(done)
        while not ended.done():
            left = job.clock.left()
            if left <= 0:
                s.expire(job)
                break
            await asyncio.wait([ended], timeout=left)
        return JSONResponse(s.state())

    async def index(request):
        return FileResponse(os.path.join(STATIC, "index.html"), headers={"Cache-Control": "no-cache"})

    async def get_info(request):
        return JSONResponse(info)

    async def create(request):
        body = await read_json(request)
        s = await off_loop(hub.create, body)  # building agents; a warm-up search takes a worker
        return JSONResponse(s.state(), status_code=201)

    async def game(request):
        s = hub.get(request.path_params["id"])
        if request.method == "DELETE":
            hub.drop(s.id)
            return JSONResponse({"dropped": s.id})
        return JSONResponse(s.state())

    async def move(request):
        s = hub.get(request.path_params["id"])
        body = await read_json(request)
        if set(body) != {"move"}:
            raise Refused(400, 'the body must be {"move": MOVE}, e.g. {"move": "f5"}')
        s.move(body["move"])
        return JSONResponse(s.state())

    async def step(request):
        s = hub.get(request.path_params["id"])
        body = await read_json(request)
        if body:
            raise Refused(400, "step takes no fields")
        return await run_job(s, "move")

    async def analyse(request):
        s = hub.get(request.path_params["id"])
        body = await read_json(request)
        if set(body) - {"side"}:
            raise Refused(400, 'analyse takes one optional field, "side" ("black" or "white")')
        return await run_job(s, "analysis", body.get("side"))

    async def undo(request):
        s = hub.get(request.path_params["id"])
        if await read_json(request):
            raise Refused(400, "undo takes no fields")
        s.undo()
        return JSONResponse(s.state())

    async def resign(request):
        s = hub.get(request.path_params["id"])
        if await read_json(request):
            raise Refused(400, "resign takes no fields")
        s.resign()
        return JSONResponse(s.state())

    async def record(request):
        s = hub.get(request.path_params["id"])
        name, media, data = s.record()
        return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def record_dirs(request):
        found, skipped = await off_loop(records.scan)
        return JSONResponse({"root": games_dir, "directories": found, "skipped": skipped})

    async def record_games(request):
        return JSONResponse(await off_loop(records.games, request.query_params.get("dir", "")))

    async def record_game(request):
        i = request.query_params.get("i", "")
        if not (i.isascii() and i.isdigit() and len(i) <= MAX_INDEX):
            raise Refused(400, f"i must be a game's index (0, 1, ...), got {i[:20]!r}")
        return JSONResponse(await off_loop(records.game, request.query_params.get("dir", ""), int(i)))

    async def refused(request, exc):
        return error(exc.status, str(exc))

    async def http_error(request, exc):
        detail = exc.detail
        if exc.status_code == 404:
            detail = f"not found: {request.url.path[:100]}"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path[:100]}"
        return error(exc.status_code, detail)

    async def crash(request, exc):
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error(500, f"internal error: {type(exc).__name__}: {exc}")

    async def sweeper():
        every = min(SWEEP_SECONDS, max(0.05, hub.idle_seconds / 4))
        while True:
            await asyncio.sleep(every)
            try:
                hub.sweep()
            except Exception:  # never the end of the sweeps
                log.exception("sweeping idle games failed")

    @asynccontextmanager
    async def lifespan(app):
        sweeping = asyncio.create_task(sweeper())
        try:
            yield
        finally:
            sweeping.cancel()
            hub.close()  # searches stop, engines close; no thread is waited for

    gid = "/api/games/{id:str}"
    routes = [
        Route("/", index),
        Route("/api/info", get_info),
        Route("/api/games", create, methods=["POST"]),
        Route(gid, game, methods=["GET", "DELETE"]),
        Route(gid + "/move", move, methods=["POST"]),
        Route(gid + "/step", step, methods=["POST"]),
        Route(gid + "/analyse", analyse, methods=["POST"]),
        Route(gid + "/undo", undo, methods=["POST"]),
        Route(gid + "/resign", resign, methods=["POST"]),
        Route(gid + "/record", record),
        Route("/api/records", record_dirs),
        Route("/api/records/games", record_games),
        Route("/api/records/game", record_game),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={Refused: refused, HTTPException: http_error, Exception: crash})
    app.add_middleware(Guard, local=local)
    app.state.hub, app.state.records = hub, records
    return app


# -- the server ------------------------------------------------------------------------------------------------

def bind(host, port):
    """A listening socket on ``host:port`` (port 0: a free one); an ``OSError`` of one line if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(host="127.0.0.1", port=8000, seed=0, games_dir="runs", move_timeout=60.0, allow_gtp=False, max_games=32,
          workers=4, access_log=False, out=sys.stdout):
    """Run the app until Ctrl-C: prints its address (the port chosen when ``port`` is 0) on one line.
    Ctrl-C stops it while agents think: their searches stop at once (the hub's ``halt``), the requests
    waiting for them are answered, and no agent's thread is waited for at exit."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            hub.halt.set()  # only an Event here (a signal handler): the lifespan's end closes the games
            super().handle_exit(sig, frame)

    local = is_loopback(host.strip("[]").lower()) or host == "localhost"
    app = create_app(seed, games_dir, move_timeout, local, True if local else allow_gtp, max_games, workers)
    hub = app.state.hub
    sock = bind(host, port)
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    out.write(f"arena serve: http://{shown}:{sock.getsockname()[1]}/ (seed {seed}, games from {games_dir}; "
              f"Ctrl-C stops it)\n")
    if not local:
        out.write(f"arena serve: listening beyond this machine on {host}: anyone who reaches it can play, and "
                  f"{'run the gtp: engine commands they name' if allow_gtp else 'gtp: engines are off'}\n")
    out.flush()
    config = uvicorn.Config(app, log_level="info" if access_log else "warning", access_log=access_log,
                            timeout_graceful_shutdown=3)
    Server(config).run(sockets=[sock])
    if hub.halt.is_set():
        # Stopped by a signal: the same exit as any interrupted command (130, "arena: interrupted"), also
        # when uvicorn does not raise the signal again itself (as when no request was in flight).
        raise KeyboardInterrupt
