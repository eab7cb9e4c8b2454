"""Helpers below every room: config loading (``config``), the one checkpoint format (``checkpoint``),
atomic writes and JSON I/O (``files``)."""
