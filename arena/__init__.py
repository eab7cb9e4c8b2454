"""Matches, tournaments, ratings and the ``arena`` command line."""
