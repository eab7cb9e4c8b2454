"""A stage of the study as a child process of this CLI: its command line, run with its output appended to
a log, a SIGTERM to the study passed on to it (it checkpoints), and the end of its log when it fails."""

import os
import signal
import subprocess
import sys


def cli(*args):
    """The command line of ``arena ARGS`` with this Python."""
    return [sys.executable, "-m", "arena.cli", *map(str, args)]


def run_child(cmd, log_path, what):
    """Run ``cmd`` with its output appended to ``log_path``; a SIGTERM to the study is passed on, and
    the child is waited for (it checkpoints) before the study stops. An interrupted child raises
    KeyboardInterrupt; a failed one a ValueError naming ``what`` with the end of its log."""
    with open(log_path, "a") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        # A progress bar redraws itself a few times a second: into a log, once a minute (tqdm reads TQDM_*
        # overrides of its defaults from the environment) keeps a 45-minute stage's log readable.
        env = {"TQDM_MININTERVAL": "60", **os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)

        def forward(signum, frame):
            proc.send_signal(signum)
            raise KeyboardInterrupt

        old = signal.signal(signal.SIGTERM, forward)
        try:
            rc = proc.wait()
        except KeyboardInterrupt:
            proc.wait()
            raise
        finally:
            signal.signal(signal.SIGTERM, old)
    if rc in (130, -signal.SIGINT, -signal.SIGTERM):
        raise KeyboardInterrupt
    if rc != 0:
        raise ValueError(f"{what} failed (exit {rc}); the end of {log_path}:\n" + tail(log_path))


def tail(path, lines=6):
    with open(path, errors="replace") as f:
        text = f.read().replace("\r", "\n").splitlines()
    return "\n".join([x for x in text if x.strip() and "%|" not in x][-lines:])


