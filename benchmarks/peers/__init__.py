"""The peer libraries the throughput benchmark compares with, in a virtual environment of
their own (``benchmarks/.peers-venv``: torch CPU and pythae; never ae_zoo's dependencies).

:func:`peer_rates` runs one peer script there on data saved as ``.npy`` and returns its
per-epoch samples/s. The environment is made on first use (a few minutes; pip reaches
PyPI for pythae and its dependencies).
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(os.path.dirname(HERE), ".peers-venv")
#: What the peers need (torch 2.13.0: the CPU build this machine's pip has on disk).
REQUIREMENTS = ("torch==2.13.0", "numpy", "pythae==0.1.2")


def python():
    return os.path.join(VENV, "bin", "python")


def ensure_venv(log=print):
    """Creates the peers' virtual environment unless it is there; returns its python."""
    marker = os.path.join(VENV, ".complete")
    if os.path.exists(marker):
        return python()
    log(f"Creating {VENV} with {', '.join(REQUIREMENTS)} (once; a few minutes) ...")
    subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
    subprocess.run([python(), "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True)
    open(marker, "w").close()
    return python()


def peer_rates(script, *arguments, timeout=3600):
    """Per-epoch training samples/s printed by ``peers/<script>`` run in the peers' venv."""
    done = subprocess.run([python(), os.path.join(HERE, script), *map(str, arguments)],
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["samples_per_second"]
