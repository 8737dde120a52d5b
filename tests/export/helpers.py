"""Tiny models of every family, built for export tests (8x8x1 images, latent 2)."""

import keras
import numpy as np

from ae_zoo import models

SHAPE = (8, 8, 1)
LATENT = 2
NUM_CLASSES = 3
#: Extra cases beyond the registry names: (case id, registry name, architecture).
EXTRA_CASES = (("conv_ae_unpool", "conv_ae", "conv_unpool"), ("vae_conv_unpool", "vae", "conv_unpool"))


def cases():
    """``{case id: (registry name, architecture or None)}``: every registered model plus the
    ``conv_unpool`` switch-passing variants (dict encoder outputs)."""
    found = {name: (name, None) for name in models.names()}
    found.update({case: (name, arch) for case, name, arch in EXTRA_CASES})
    return found


def make_model(name, architecture=None, seed=0):
    """A tiny untrained model of family ``name``, built on 8x8x1 inputs."""
    cls = models.get(name)
    arch = architecture or cls.default_architecture
    kwargs = dict(latent_dim=LATENT, input_shape=SHAPE, seed=seed)
    if architecture:
        kwargs["architecture"] = architecture
    kwargs.update({"filters": (4,)} if arch in ("conv", "conv_unpool") else {"hidden_units": (16,)})
    if cls.conditional:
        kwargs["num_classes"] = NUM_CLASSES
    keras.utils.set_random_seed(seed)
    return cls(**kwargs)


def train_briefly(model, steps=1, seed=0):
    """A step or two of ``fit`` (no XLA), so the exported weights are not the initial ones."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(8 * steps, *SHAPE)).astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    if model.conditional:
        model.fit(x, rng.integers(0, NUM_CLASSES, len(x)), batch_size=8, epochs=1, verbose=0)
    else:
        model.fit(x, batch_size=8, epochs=1, verbose=0)
    return model


def batch(n=4, seed=1):
    """Inputs for every signature: x in [0, 1], z ~ N(0, 1), labels and seeds."""
    rng = np.random.default_rng(seed)
    return {
        "x": rng.uniform(size=(n, *SHAPE)).astype("float32"),
        "z": rng.normal(size=(n, LATENT)).astype("float32"),
        "label": (np.arange(n) % NUM_CLASSES).astype("int64"),
        "seed": np.arange(n, dtype="int64") + 11,
    }
