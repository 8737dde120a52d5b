"""TF Serving ``models.config``: serve every model folder of a zoo with one server.

``ae-zoo serving-config saved_models/`` writes ``saved_models/models.config``::

    model_config_list {
      config {
        name: "vae_mnist5k"
        base_path: "/abs/path/saved_models/vae_mnist5k"
        model_platform: "tensorflow"
      }
      ...
    }

for ``tensorflow_model_server --model_config_file=saved_models/models.config``.
With ``--base-path /models`` the paths become ``/models/<name>``, the folder as
mounted inside a container.
"""

import os
import posixpath
import sys

from ae_zoo._io import atomic_path
from ae_zoo._zoo import numeric_versions


def model_folders(models_dir):
    """``[(name, folder)]`` of the servable model folders in ``models_dir``, sorted by name.

    A folder is servable when it has a numeric version holding ``saved_model.pb``;
    hidden folders (``.export-*`` temporaries) are skipped.
    """
    models_dir = os.fspath(models_dir)
    if not os.path.isdir(models_dir):
        raise FileNotFoundError(f"No such directory: {models_dir}")
    found = []
    for name in sorted(os.listdir(models_dir)):
        folder = os.path.join(models_dir, name)
        if name.startswith((".", "_")) or not os.path.isdir(folder):
            continue
        if any(os.path.isfile(os.path.join(folder, str(v), "saved_model.pb"))
               for v in numeric_versions(folder)):
            found.append((name, os.path.abspath(folder)))
    return found


#: Characters a protobuf text-format string cannot hold as they are.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _quote(text):
    """``text`` as a protobuf text-format string literal (other control characters octal)."""
    out = "".join(_ESCAPES.get(c, f"\\{ord(c):03o}" if ord(c) < 32 else c) for c in text)
    return f'"{out}"'


def serving_config_text(models_dir, base_path=None):
    """The ``ModelServerConfig`` text protobuf serving every model folder of ``models_dir``."""
    folders = model_folders(models_dir)
    if not folders:
        raise ValueError(f"{models_dir} has no model folder with a numeric SavedModel version "
                         "(export one with `ae-zoo export RUN_DIR --out DIR/NAME`).")
    lines = ["model_config_list {"]
    for name, folder in folders:
        path = posixpath.join(base_path, name) if base_path else folder
        lines += ["  config {", f"    name: {_quote(name)}", f"    base_path: {_quote(path)}",
                  '    model_platform: "tensorflow"', "  }"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_serving_config(models_dir, out=None, base_path=None):
    """Writes the config atomically (default ``models_dir/models.config``).

    Returns ``(path, [served names])``; folders without a servable version are
    skipped with a note on stderr.
    """
    models_dir = os.fspath(models_dir)
    text = serving_config_text(models_dir, base_path)
    served = [name for name, _ in model_folders(models_dir)]
    skipped = [n for n in sorted(os.listdir(models_dir))
               if os.path.isdir(os.path.join(models_dir, n)) and not n.startswith((".", "_"))
               and n not in served]
    for name in skipped:
        print(f"note: {name}/ has no numeric SavedModel version; not served", file=sys.stderr)
    out = os.fspath(out) if out else os.path.join(models_dir, "models.config")
    with atomic_path(out, ".config") as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    return out, served
