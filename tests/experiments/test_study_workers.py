"""A study shared by several workers: atomic claims, stale claims taken over, and two local
worker processes running the same `ae-zoo study` command on one folder."""

import csv
import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest

from ae_zoo.experiments.study_claims import Claims
from tests.experiments.test_study import TINY_RECIPE


def test_a_claim_is_held_by_one_worker_until_released(tmp_path):
    first, second = Claims(tmp_path), Claims(tmp_path)
    second.worker = "other-host:1"  # a second worker in this process
    assert first.claim("run_a")
    assert not second.claim("run_a") and second.claim("run_b")
    assert first.owner("run_a")["worker"] == first.worker
    second.release("run_a")  # not its claim: nothing happens
    assert not second.claim("run_a")
    first.release("run_a")
    assert second.claim("run_a")


def test_stale_claims_are_taken_over(tmp_path):
    claims = Claims(tmp_path, stale_after=60, heartbeat=1)
    path = tmp_path / ".claims" / "run"
    path.parent.mkdir()
    # a process of this host that is gone
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path.write_text(json.dumps({"worker": "x", "host": socket.gethostname(), "pid": dead.pid}))
    assert claims.is_stale("run") and claims.claim("run")
    claims.release("run")
    assert not list(path.parent.iterdir())  # the claim taken over is gone, not set aside
    # another machine's claim, silent for longer than stale_after
    path.write_text(json.dumps({"worker": "y", "host": "elsewhere", "pid": 1}))
    assert not claims.claim("run")
    os.utime(path, (time.time() - 120, time.time() - 120))
    assert claims.claim("run")
    # while held, the heartbeat keeps the claim fresh
    os.utime(path, (time.time() - 30, time.time() - 30))
    deadline = time.time() + 30
    while time.time() - path.stat().st_mtime > 20 and time.time() < deadline:
        time.sleep(0.2)
    assert time.time() - path.stat().st_mtime < 20
    claims.release("run")
    with pytest.raises(ValueError, match="stale_after"):
        Claims(tmp_path, stale_after=1, heartbeat=5)


def test_two_worker_processes_share_one_study(tmp_path):
    """Each run is trained once, by whichever worker claimed it (the other one leaves it,
    or finds it finished: which worker trains which run depends on timing); the study
    finishes with every run scored and the full report."""
    out = tmp_path / "study"
    command = [sys.executable, "-m", "ae_zoo", "study", "--models", "vae",
               "--seeds", "0,1,2", "--hparam-points", "none", "--steps", "2", "--out", str(out),
               "--metrics", "mig,unsupervised,unsupervised_sampled",
               "--metric-setting", "num_train=64", "--metric-setting", "batch_size=64"]
    for item in TINY_RECIPE:
        command += ["--set", item]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env) for _ in range(2)]
    logs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], logs
    runs = [f"vae seed {s}" for s in range(3)]
    trained = [{run for run in runs for line in log.splitlines()
                if line.startswith("[") and f"] {run}: training 2 steps" in line}
               for log in logs]
    assert trained[0] | trained[1] == set(runs) and not trained[0] & trained[1], logs
    for log, mine in zip(logs, trained):  # a run a worker did not train, it saw taken
        for run in set(runs) - mine:
            assert re.search(rf"\] {run}: (claimed by \S+, left to it|finished (earlier|by "
                             "another worker), skipped)", log), log
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["model"], r["seed"]) for r in rows) == [("vae", s) for s in "012"]
    assert all(r["udr"] != "" for r in rows)  # seeds of one setup: UDR for every run
    assert not [p for p in (out / ".claims").iterdir() if not p.name.startswith(".")]
