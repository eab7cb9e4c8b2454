"""Atomic writes and JSON I/O: every file a run or a tournament keeps is written to a temporary name
beside it and renamed into place, so a crash leaves either the old file or the new one, never half."""

import json
import os


def atomic_write(path, data):
    """Write ``data`` (``str`` or ``bytes``) to ``path`` atomically (temporary file, then rename)."""
    tmp = f"{path}.tmp"
    with open(tmp, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.replace(tmp, path)


def write_json(path, obj, indent=2):
    """``obj`` as indented JSON at ``path``, atomically."""
    atomic_write(path, json.dumps(obj, indent=indent) + "\n")


def read_json(path, default=None):
    """The JSON at ``path``, or ``default`` when there is no such file; a malformed file is a
    ``ValueError`` of one line naming it."""
    if not os.path.exists(path):
        return default
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
