"""The arena: GTP (``gtp``), games between players (``match``), agent specs (``specs``), tournaments
(``tournament``), the engine ladder (``ladder``), engine games and transcript datasets (``engine_games``,
``transcripts``), the study (``study``) and the ``arena`` command line (``cli`` and its ``commands``)."""
