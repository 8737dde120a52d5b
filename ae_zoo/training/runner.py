"""The training runner behind ``ae-zoo train``: data, model, fit, evaluation, files.

A run directory holds ``run.json`` (what was run, to reproduce or export it),
``model.keras``, ``history.csv``, ``metrics.json`` and ``reconstructions.png``.
Every file is written under a temporary name and renamed when complete.
"""

import os
import platform
import time

import keras
import numpy as np

import ae_zoo
from ae_zoo import data as data_lib
from ae_zoo import models as model_lib
from ae_zoo._io import save_model, write_json
from ae_zoo.models.vae import VAE


def versions():
    import tensorflow as tf

    return {"ae_zoo": ae_zoo.__version__, "tensorflow": tf.__version__,
            "keras": keras.__version__, "python": platform.python_version()}


def is_conditional(model):
    return isinstance(model, model_lib.ConditionalVAE)


def build_model(name, train_set, latent_dim=None, seed=0, architecture=None, **options):
    """Creates the registered model ``name`` for ``train_set``'s image shape (and classes)."""
    cls = model_lib.get(name)
    kwargs = dict(options)
    if latent_dim is not None:
        kwargs["latent_dim"] = latent_dim
    if architecture is not None:
        kwargs["architecture"] = architecture
    if issubclass(cls, model_lib.ConditionalVAE):
        if train_set.y is None:
            raise ValueError(f"Model {name!r} needs class labels; dataset {train_set.name!r} has none.")
        kwargs.setdefault("num_classes", int(train_set.num_classes or train_set.y.max() + 1))
    return cls(input_shape=train_set.input_shape, seed=seed, **kwargs)


def evaluate_model(model, test_set, batch_size=128, iwae_samples=50, iwae_examples=1000):
    """Test metrics: every tracked loss term, the per-pixel reconstruction MSE, and for
    the VAE family the ELBO and the importance-weighted -log p(x) (nats per example)."""
    conditional = is_conditional(model)
    x, y = test_set.x, test_set.y
    inputs = (x, y) if conditional else (x,)
    results = model.evaluate(*inputs, batch_size=batch_size, verbose=0, return_dict=True)
    metrics = {f"test_{k}": float(v) for k, v in results.items()}
    recon = model.predict((x, y) if conditional else x, batch_size=batch_size, verbose=0)
    metrics["test_reconstruction_mse"] = float(np.mean((recon - x) ** 2))
    if isinstance(model, VAE) and iwae_samples:
        n = min(len(x), iwae_examples)
        args = (x[:n], y[:n]) if conditional else (x[:n],)
        log_px = model.log_likelihood(*args, num_samples=iwae_samples, batch_size=100)
        metrics["test_iwae_nll"] = float(-np.mean(log_px))
        metrics["iwae_samples"] = int(iwae_samples)
        metrics["iwae_examples"] = int(n)
    return metrics


def reconstruction_figure(model, test_set, path, n=10):
    from ae_zoo.viz import reconstruction_grid

    x = test_set.x[:n]
    if is_conditional(model):
        recon = model.reconstruct(x, test_set.y[:n])
        corrupted = None
    elif isinstance(model, model_lib.DenoisingAutoencoder):
        corrupted = np.asarray(model.corrupt(x))
        recon = model.reconstruct(corrupted)
    else:
        recon, corrupted = model.reconstruct(x), None
    title = f"{getattr(model, 'registry_name', type(model).__name__)} on {test_set.name}"
    return reconstruction_grid(x, np.asarray(recon), corrupted=corrupted, n=n, title=title, path=path)


def train(model="vae", dataset="mnist5k", *, epochs=10, batch_size=128, latent_dim=None,
          seed=0, out=None, architecture=None, learning_rate=1e-3, model_options=None,
          data_options=None, callbacks=None, verbose=1, iwae_samples=50, jit_compile="auto",
          command=None):
    """Trains a registered model on a dataset, evaluates it and writes the run directory.

    Returns a dict with the model, the Keras history, the test metrics and the run
    directory. ``out`` defaults to ``runs/<model>_<dataset>``; ``command`` is recorded
    in ``run.json`` as the way to reproduce the run.
    """
    if int(epochs) < 1:
        raise ValueError(f"`epochs` must be >= 1, got {epochs}.")
    if int(batch_size) < 1:
        raise ValueError(f"`batch_size` must be >= 1, got {batch_size}.")
    model_lib.get(model)  # unknown model names fail before any data is loaded
    out = os.fspath(out or os.path.join("runs", f"{model}_{dataset}"))
    keras.utils.set_random_seed(seed)
    train_set = data_lib.load(dataset, "train", **(data_options or {}))
    test_set = data_lib.load(dataset, "test", **(data_options or {}))
    net = build_model(model, train_set, latent_dim=latent_dim, seed=seed,
                      architecture=architecture, **(model_options or {}))
    net.compile(optimizer=keras.optimizers.Adam(learning_rate), jit_compile=jit_compile)
    conditional = is_conditional(net)
    train_ds = train_set.as_tf_dataset(batch_size, seed=seed, with_labels=conditional)
    test_ds = test_set.as_tf_dataset(batch_size, shuffle=False, with_labels=conditional)

    os.makedirs(out, exist_ok=True)
    run_info = {
        "model": model, "dataset": dataset, "epochs": int(epochs), "batch_size": int(batch_size),
        "latent_dim": net.latent_dim, "seed": seed, "architecture": net.architecture,
        "learning_rate": learning_rate, "model_options": model_options or {},
        "data_options": data_options or {}, "command": command,
        "versions": versions(), "input_shape": list(train_set.input_shape),
    }
    write_json(os.path.join(out, "run.json"), run_info)
    history_tmp = os.path.join(out, ".history.csv.partial")
    all_callbacks = [keras.callbacks.CSVLogger(history_tmp), keras.callbacks.TerminateOnNaN(),
                     *(callbacks or [])]
    start = time.time()
    history = net.fit(train_ds, epochs=int(epochs), validation_data=test_ds,
                      callbacks=all_callbacks, verbose=verbose, shuffle=False)
    train_seconds = time.time() - start
    os.replace(history_tmp, os.path.join(out, "history.csv"))

    metrics = evaluate_model(net, test_set, batch_size=batch_size, iwae_samples=iwae_samples)
    metrics.update(train_seconds=train_seconds, epochs=int(epochs),
                   num_train_examples=len(train_set), num_test_examples=len(test_set))
    save_model(net, os.path.join(out, "model.keras"))
    write_json(os.path.join(out, "metrics.json"), metrics)
    reconstruction_figure(net, test_set, os.path.join(out, "reconstructions.png"))
    return {"model": net, "history": history.history, "metrics": metrics, "out": out}
