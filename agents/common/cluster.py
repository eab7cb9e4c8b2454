"""Joining Ray: one function for every command that runs on a cluster (``arena train``, ``arena
tournament``), so that the default and the failures are the same everywhere.

    connect(None)                 a new local Ray instance sized to this machine, always: a leftover
                                  ``/tmp/ray/ray_current_cluster`` of a cluster that ended uncleanly is
                                  never retried (``ray.init(address="local")``)
    connect("auto")               the cluster started on this machine with ``ray start``
    connect("HOST:PORT")          a cluster's head (``ray start --head --port=PORT`` there)
    connect("ray://HOST:PORT")    a cluster through the Ray client

An address that does not answer within ``timeout`` seconds is a ``ValueError`` of one line, instead of
Ray's minutes of retries. Ray's own start-up chatter goes to its log files, not to the terminal.
"""

import logging
import socket


def _probe(address, timeout):
    """Raise a one-line ``ValueError`` unless a TCP connection to ``HOST:PORT`` opens within ``timeout``."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"Ray address {address!r} is not HOST:PORT, ray://HOST:PORT, auto or empty (local)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise ValueError(f"no Ray cluster answers at {address} ({e.strerror or type(e).__name__}) within "
                         f"{timeout:g} s: start it with 'ray start --head --port={port}' there, or leave out "
                         f"--address to run on this machine") from None


def connect(address=None, namespace=None, timeout=10.0, **kwargs):
    """``ray.init`` for ``address`` (see the module docstring); ``kwargs`` go to ``ray.init`` (e.g.
    ``num_cpus`` for a local instance). Returns True when this call started or joined Ray, False when
    Ray was already initialised in this process (then nothing is changed)."""
    import ray  # here, not at the top: commands that never use a cluster do not pay for importing Ray

    if ray.is_initialized():
        return False
    if address not in (None, "", "auto", "local"):
        _probe(address, timeout)
    local = address in (None, "", "local")
    if local:  # options of a new instance; joining a cluster takes the cluster's own
        kwargs = {"include_dashboard": False, **kwargs}
    else:
        kwargs = {k: v for k, v in kwargs.items() if k not in ("num_cpus", "num_gpus")}
    try:
        ray.init(address="local" if local else address, namespace=namespace, log_to_driver=False,
                 logging_level=logging.ERROR, **kwargs)
    except ConnectionError as e:
        raise ValueError(f"cannot join the Ray cluster {address!r}: {str(e).splitlines()[0][:200]}") from None
    return True
