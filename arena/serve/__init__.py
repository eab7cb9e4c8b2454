"""``arena serve``: a local web page to play every agent, watch two play, and replay recorded games, with
the search's thinking drawn on the board. One module per concern:

    app        the Starlette routes, the request checks, and ``serve`` (uvicorn)
    hub        every game of the server: a new game's checks, the agents built from specs, the workers
    sessions   one game of the page: its sides, position and boards, an agent's move or analysis as a job
    thinking   what the agents' searches thought, the threads and clocks they think under
    records    the tournament and ladder results directories under ``--games``
    static/    the page: index.html, app.js, style.css (plain JS and SVG, nothing fetched from outside)

It sits beside the tournament and the ladder: it builds agents from specs (arena.specs), reads results
directories (arena.tournament) and uses the rules (envs); ``arena.commands`` imports it. See docs/serve.md.
"""
