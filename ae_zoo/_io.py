"""Atomic file writes: write under a temporary name, then rename into place.

An interrupted run never leaves a half-written file under the final name.
"""

import contextlib
import ctypes
import errno
import functools
import json
import math
import os
import sys
import tempfile
import zipfile
import zlib

import numpy as np


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yields a temporary path beside ``path``; renames it to ``path`` on success."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=suffix, prefix=".tmp-", dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@functools.cache
def _renameat2():
    """libc's ``renameat2`` (Linux, glibc >= 2.28), or None."""
    if not sys.platform.startswith("linux"):
        return None
    function = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if function is not None:
        function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                             ctypes.c_uint]
    return function


def exchange_paths(a, b):
    """Swaps the existing paths ``a`` and ``b`` (files or folders) in one atomic step, so that
    neither name is ever missing (Linux's ``renameat2(..., RENAME_EXCHANGE)``). Returns
    False, changing nothing, where the system or the file system cannot."""
    function = _renameat2()
    if function is None:
        return False
    at_cwd, exchange = -100, 2  # AT_FDCWD, RENAME_EXCHANGE (linux/fcntl.h, linux/fs.h)
    if function(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # e.g. NFS, old kernels
        return False
    raise OSError(code, os.strerror(code), os.fspath(a), None, os.fspath(b))


def to_jsonable(value):
    """``value`` with numpy scalars/arrays as Python numbers/lists and NaN/inf as None
    (strict JSON has no NaN); anything else unknown as its ``repr``."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return repr(value)  # e.g. a scikit-learn estimator given as a DCI setting


def read_json(path):
    """The JSON document at ``path``, or None when there is no such file."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_text(path, text):
    """Writes ``text`` (UTF-8) to ``path``, atomically."""
    with atomic_path(path, os.path.splitext(os.fspath(path))[1]) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return path


def write_json(path, payload):
    """Writes ``payload`` as indented, key-sorted strict JSON (:func:`to_jsonable`: NaN and
    infinities as null), atomically. Every JSON file ae_zoo writes goes through here."""
    with atomic_path(path, ".json") as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(to_jsonable(payload), f, indent=2, sort_keys=True, allow_nan=False)
            f.write("\n")
    return path


def process_alive(pid):
    """Whether process ``pid`` of this host exists (another user's process counts)."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class OutputExists(FileExistsError, ValueError):
    """A command would replace the finished output of an earlier one."""


def refuse_to_replace(path, what, overwrite=False, flag="--overwrite"):
    """Raises :class:`OutputExists` when ``path`` (the file or folder that marks a finished
    output: a run's model.keras, an export version, a report) exists and ``overwrite`` is
    false; the one check behind every command that writes a finished output."""
    if not overwrite and os.path.exists(path):
        raise OutputExists(f"{path} already exists: it holds {what}. Pass {flag} to replace "
                           "it, or choose another output.")


class DamagedFile(ValueError):
    """A file that exists but cannot be read whole (cut short or corrupted)."""


def check_keras_file(path):
    """Raises :class:`DamagedFile` naming ``path`` when the ``.keras`` file there is not a
    complete archive (a write killed half-way, an interrupted copy, flipped bytes), which
    Keras would report as "File not found"; FileNotFoundError when there is no file. Reads
    the archive once, checking every member's CRC."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such model file: {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            members = archive.namelist()
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        bad, members = f"not a readable zip archive: {err}", None
    else:
        if bad is not None:
            bad = f"{bad} inside it fails its checksum"
        elif "config.json" not in members:
            bad = "it holds no config.json"
    if bad is not None:
        raise DamagedFile(f"{path} is damaged ({bad}; {os.path.getsize(path)} bytes): it was "
                          "probably cut short by a killed write or an interrupted copy. Copy it "
                          "again or retrain it.")
    return path


def save_model(model, path):
    """``model.save(path)`` (a ``.keras`` file), atomically."""
    with atomic_path(path, ".keras") as tmp:
        model.save(tmp)
    return path
