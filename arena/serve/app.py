"""The web app of ``arena serve``: Starlette routes over :mod:`arena.serve.sessions` and
:mod:`arena.serve.records`, the page in ``static/``, and :func:`serve`, which runs it under uvicorn.

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
and the server stays up. Agents think in a thread pool of ``workers`` threads, never on the event loop;
an agent's move that takes longer than ``move_timeout`` seconds forfeits the game (its thread runs on
to its end, its result dropped), and an analysis that does is given up.

Served on a loopback address (the default) the app answers only requests whose ``Host`` is a loopback
name (a DNS-rebinding page gets a 400) and refuses cross-site POSTs (an ``Origin`` other than its own:
403; a body that is not ``application/json``: 415), since a request can name a ``gtp:`` command for the
server to run. On another address ``gtp:`` specs are refused unless ``allow_gtp``.
"""

import asyncio
import ipaddress
import json
import logging
import os
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from arena.serve.records import Records
from arena.serve.sessions import SIZES, Hub, Refused, one_line
from arena.specs import MODELS, SHIPPED, SHIPPED_SEQ
from envs.go_kernels import default_komi

log = logging.getLogger("arena.serve")

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
MAX_BODY = 64 * 1024  # bytes of a request body: a move or a spec is a few dozen
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
    """ASGI middleware run before any route: a body over ``MAX_BODY`` (by its Content-Length) is a 413;
    on a loopback server a Host that is not a loopback name is a 400, and a POST or DELETE from another
    origin a 403, or with a body that is not JSON a 415 (a cross-site form cannot send one)."""

    def __init__(self, app, local=True):
        self.app, self.local = app, local

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        h = Headers(scope=scope)
        refusal = None
        host = h.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        length = h.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            refusal = (413, f"request body over {MAX_BODY // 1024} KiB") if length.isdigit() else \
                (400, "bad Content-Length")
        elif self.local and not is_loopback(name.lower()):
            refusal = (400, f"bad Host header {host[:60]!r}: this server answers to localhost only")
        elif self.local and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            origin = h.get("origin")
            if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
                refusal = (403, f"cross-site request from {origin[:60]!r} refused")
            elif (length not in (None, "0") or "transfer-encoding" in h) and \
                    h.get("content-type", "").split(";")[0].strip().lower() != "application/json":
                refusal = (415, "a request body must be JSON (Content-Type: application/json)")
        if refusal is not None:
            return await error(*refusal)(scope, receive, send)
        return await self.app(scope, receive, send)


async def read_json(request):
    """The request's JSON object; ``{}`` for an empty body. Bad JSON or a body over ``MAX_BODY`` (sent
    without a Content-Length) is refused."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Refused(413, f"request body over {MAX_BODY // 1024} KiB")
    if not body.strip():
        return {}
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Refused(400, f"malformed JSON: {e}") from None
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
            if key in SHIPPED_SEQ and os.path.exists(os.path.join(MODELS, f"{SHIPPED_SEQ[key]}.pt")):
                specs.append(f"seq:{key}")
            specs += ["mcts:rollouts=200", "mcts:rollouts=1000", "greedy", "random"]
            if allow_gtp and key in ENGINES and os.path.exists(ENGINES[key][0]):
                specs.append(ENGINES[key][1])
            out[key] = specs
    return out


def create_app(seed=0, games_dir="runs", move_timeout=60.0, local=True, allow_gtp=None, max_games=32,
               workers=4):
    """The Starlette app. ``local``: it is served on a loopback address (the request checks of
    :class:`Guard`); ``allow_gtp``: whether a request may name a ``gtp:`` engine (default: when local)."""
    allow_gtp = local if allow_gtp is None else bool(allow_gtp)
    hub = Hub(seed=seed, move_timeout=move_timeout, allow_gtp=allow_gtp, max_games=max_games)
    records = Records(games_dir)
    pool = ThreadPoolExecutor(max_workers=max(1, int(workers)), thread_name_prefix="arena-serve")
    info = {"games": {g: list(s) for g, s in SIZES.items()}, "komi": {str(n): default_komi(n) for n in SIZES["go"]},
            "suggestions": suggestions(allow_gtp), "seed": hub.seed, "move_timeout": hub.move_timeout,
            "gtp": allow_gtp, "games_dir": games_dir}

    async def off_loop(fn, *args):
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    async def run_job(session, job):
        fut = asyncio.get_running_loop().run_in_executor(pool, job.run)
        try:  # shielded: a job that times out runs on (it holds its agent) and is dropped when it ends
            await asyncio.wait_for(asyncio.shield(fut), session.move_timeout)
        except asyncio.TimeoutError:
            session.expire(job)
        return JSONResponse(session.state())

    async def index(request):
        return FileResponse(os.path.join(STATIC, "index.html"), headers={"Cache-Control": "no-cache"})

    async def get_info(request):
        return JSONResponse(info)

    async def create(request):
        body = await read_json(request)
        s = await off_loop(hub.create, body)
        return JSONResponse(s.state(), status_code=201)

    async def game(request):
        s = hub.get(request.path_params["id"])
        if request.method == "DELETE":
            await off_loop(hub.drop, s.id)
            return JSONResponse({"dropped": s.id})
        return JSONResponse(s.state())

    async def move(request):
        s = hub.get(request.path_params["id"])
        body = await read_json(request)
        if set(body) != {"move"}:
            raise Refused(400, 'the body must be {"move": MOVE}, e.g. {"move": "f5"}')
        await off_loop(s.move, body["move"])
        return JSONResponse(s.state())

    async def step(request):
        s = hub.get(request.path_params["id"])
        body = await read_json(request)
        if body:
            raise Refused(400, "step takes no fields")
        return await run_job(s, s.begin("move"))

    async def analyse(request):
        s = hub.get(request.path_params["id"])
        body = await read_json(request)
        if set(body) - {"side"}:
            raise Refused(400, 'analyse takes one optional field, "side" ("black" or "white")')
        return await run_job(s, s.begin("analysis", body.get("side")))

    async def undo(request):
        s = hub.get(request.path_params["id"])
        await read_json(request)
        await off_loop(s.undo)
        return JSONResponse(s.state())

    async def resign(request):
        s = hub.get(request.path_params["id"])
        await read_json(request)
        s.resign()
        return JSONResponse(s.state())

    async def record(request):
        s = hub.get(request.path_params["id"])
        name, media, data = await off_loop(s.record)
        return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def record_dirs(request):
        return JSONResponse({"root": games_dir, "directories": await off_loop(records.directories)})

    async def record_games(request):
        return JSONResponse(await off_loop(records.games, request.query_params.get("dir", "")))

    async def record_game(request):
        i = request.query_params.get("i", "")
        if not i.isdigit():
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

    @asynccontextmanager
    async def lifespan(app):
        yield
        pool.shutdown(wait=False, cancel_futures=True)
        hub.close()

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
    """Run the app until Ctrl-C: prints its address (the port chosen when ``port`` is 0) on one line."""
    import uvicorn

    local = is_loopback(host.strip("[]").lower()) or host == "localhost"
    app = create_app(seed, games_dir, move_timeout, local, True if local else allow_gtp, max_games, workers)
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
    uvicorn.Server(config).run(sockets=[sock])
