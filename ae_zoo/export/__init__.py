"""SavedModel export for TF Serving, model cards, and the pretrained zoo.

    >>> from ae_zoo.export import export_saved_model, load_pretrained
    >>> path = export_saved_model(vae, "exports/my_vae")          # exports/my_vae/1
    >>> model = load_pretrained("vae_mnist5k")                    # or a path
    >>> model.sample(8, seed=0).shape
    (8, 28, 28, 1)

Signatures and their input/output names: see :mod:`ae_zoo.export.saved_model`.
"""

from ae_zoo.export.card import export_run, make_card, write_card
from ae_zoo.export.pretrained import (
    PretrainedModel,
    available,
    load_pretrained,
    tfsm_layer,
    zoo_dir,
)
from ae_zoo.export.saved_model import (
    INPUT_NAMES,
    OUTPUT_NAMES,
    check_serving_graph,
    export_saved_model,
    find_forbidden_ops,
    next_version,
    signature_names,
    signature_specs,
)
from ae_zoo.export.serving import serving_config_text, write_serving_config

__all__ = [
    "INPUT_NAMES",
    "OUTPUT_NAMES",
    "PretrainedModel",
    "available",
    "check_serving_graph",
    "export_run",
    "export_saved_model",
    "find_forbidden_ops",
    "load_pretrained",
    "make_card",
    "next_version",
    "serving_config_text",
    "signature_names",
    "signature_specs",
    "tfsm_layer",
    "write_card",
    "write_serving_config",
    "zoo_dir",
]
