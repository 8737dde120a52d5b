"""Atomic claims, so that several processes or machines share one study directory.

A worker claims a run by creating ``OUT/.claims/<run>`` with ``O_CREAT | O_EXCL``, which
exactly one creator wins (on a local disk and on NFSv3 or later). While it holds claims a
background thread touches them every ``heartbeat`` seconds; a claim whose file was not
touched for ``stale_after`` seconds, or whose process is gone (same host), is stale: a
worker takes it over by renaming it away (one rename wins; the winner removes it) and
claiming again, and the run resumes from what its directory holds. The same mechanism,
waited on, serializes the writing of the report (``lock``).
"""

import contextlib
import json
import os
import socket
import threading
import time
import uuid

from ae_zoo._io import process_alive

CLAIMS_DIR = ".claims"
#: A claim not touched for this long is taken over (seconds).
STALE_AFTER = 600.0
HEARTBEAT = 30.0


class Claims:
    """The claims one worker holds in ``root/.claims``.

    Example::

        >>> claims = Claims("runs/study")
        >>> if claims.claim("vae_seed0"):
        ...     try: train_it()
        ...     finally: claims.release("vae_seed0")
    """

    def __init__(self, root, stale_after=STALE_AFTER, heartbeat=HEARTBEAT):
        if not stale_after > heartbeat > 0:
            raise ValueError(f"stale_after ({stale_after}) must exceed heartbeat ({heartbeat}) "
                             "> 0: a live worker's claims must not look stale")
        self.dir = os.path.join(os.fspath(root), CLAIMS_DIR)
        self.stale_after, self.heartbeat = float(stale_after), float(heartbeat)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._held = set()
        self._lock = threading.Lock()
        self._thread = None

    def _path(self, name):
        return os.path.join(self.dir, name)

    def owner(self, name):
        """The claim's content (``{"worker", "host", "pid", "time"}``), or None."""
        try:
            with open(self._path(name), encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def is_stale(self, name):
        """Whether ``name``'s claim exists and was abandoned."""
        try:
            age = time.time() - os.stat(self._path(name)).st_mtime
        except FileNotFoundError:
            return False
        owner = self.owner(name) or {}
        if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int) \
                and owner["pid"] != os.getpid() and not process_alive(owner["pid"]):
            return True
        return age > self.stale_after

    def claim(self, name):
        """Claims ``name``; True when this worker now holds it (a stale claim is taken over)."""
        os.makedirs(self.dir, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self._path(name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not self.is_stale(name):
                    return False
                aside = self._path(f"{name}.stale-{uuid.uuid4().hex}")
                with contextlib.suppress(FileNotFoundError):  # another worker took it first
                    os.rename(self._path(name), aside)  # the one rename that wins
                    os.remove(aside)
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"worker": self.worker, "host": socket.gethostname(),
                           "pid": os.getpid(), "time": time.time()}, f)
            with self._lock:
                self._held.add(name)
            self._start_heartbeat()
            return True
        return False

    def release(self, name):
        with self._lock:
            self._held.discard(name)
        owner = self.owner(name)
        if owner is None or owner.get("worker") == self.worker:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._path(name))

    @contextlib.contextmanager
    def lock(self, name, poll=0.5):
        """Holds ``name`` for the ``with`` block, waiting while another worker holds it."""
        while not self.claim(name):
            time.sleep(poll)
        try:
            yield
        finally:
            self.release(name)

    def _start_heartbeat(self):
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._beat, daemon=True,
                                            name="study-claims-heartbeat")
            self._thread.start()

    def _beat(self):
        while True:
            time.sleep(self.heartbeat)
            with self._lock:
                held = list(self._held)
                if not held:
                    self._thread = None
                    return
            for name in held:
                with contextlib.suppress(FileNotFoundError):
                    os.utime(self._path(name))
