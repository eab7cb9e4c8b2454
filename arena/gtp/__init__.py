"""The Go Text Protocol, both ends: ``client`` runs an external engine as an arena agent (GNU Go,
gtp-rhino, another ``arena gtp``); ``server`` (``arena gtp``) serves any agent spec as an engine.

The client sits under the agent specs (``gtp:COMMAND`` builds a :class:`GTPAgent`) and the server over
them (it builds its agent from a spec), so this package re-exports the client only: importing
``arena.gtp`` never loads the specs."""

from arena.gtp.client import GTPAgent, GTPEngine, GTPFailure, EngineError, Resign

__all__ = ["GTPAgent", "GTPEngine", "GTPFailure", "EngineError", "Resign"]
