"""Games between players: ``driver`` plays one game or a batch of games between agents, refereed by
our rules kernels (forfeits recorded, not raised); ``human`` (``arena play``) is a person against an
agent in the terminal."""

from arena.match.driver import play_game, play_games

__all__ = ["play_game", "play_games"]
