"""Trains each family on mnist5k (dense nets) and measures its reconstructions and, for each
sampler, how its samples compare with the test digits.

    python benchmarks/generation.py [--epochs 30] [--models ae,rae_l2,...] [--samples 1000]
                                    [--samplers normal,gmm,two_stage,maf] [--out DIR]

Every model trains from its ``recipes/<model>_mnist5k.yaml`` (784-512-256 MLPs, the
recipe's latent size; ``--epochs`` caps the epochs, no export, no sampler fitted by the
runner). Printed: the test reconstruction MSE per pixel and, per sampler, the Fréchet
distance (FID) of ``--samples`` decoded draws against the 1,000 test digits.

Samplers: a generative model's own prior (``prior``); for a model with continuous codes,
``normal`` (N(0, I): an autoencoder's draws without a sampler), ``gmm`` (10 components),
``two_stage`` and ``maf``; for the VQ-VAE, ``pixelcnn``. Each is fitted to the training
split's codes.

FID: :func:`fid` uses ``ae_zoo.evaluation.generation`` (issue 18: the shipped mnist5k
feature network) when it exists; until then a clearly labelled stand-in, the Fréchet
distance between Gaussian fits of the 128 penultimate features of a small CNN classifier
trained here on mnist5k/train (its test accuracy is printed). Numbers from the stand-in
are comparable with each other, not with published FIDs.
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from scipy import linalg  # noqa: E402

from ae_zoo import data, samplers  # noqa: E402
from ae_zoo.experiments.train import train  # noqa: E402

DEFAULT_MODELS = ("ae", "rae_l2", "rae_gp", "vae", "wae_mmd", "info_vae", "aae", "vae_gan",
                  "vq_vae")
CONTINUOUS_SAMPLERS = ("normal", "gmm", "two_stage", "maf")
SAMPLER_OPTIONS = {"gmm": {"n_components": 10}, "two_stage": {"epochs": 50},
                   "maf": {"epochs": 50}, "pixelcnn": {"epochs": 40}}


# ------------------------------------------------------------------------ FID
def frechet(features_a, features_b):
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of Gaussian fits (float64)."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(s_a @ s_b)
    if np.iscomplexobj(root):
        root = root.real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a + s_b - 2.0 * root))


class StandInFeatures:
    """The stand-in feature network: a small CNN classifier trained on mnist5k/train; the
    features are its 128-unit penultimate layer."""

    def __init__(self, train_set, test_set, epochs=5, seed=0):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input(train_set.input_shape)
        h = keras.layers.Conv2D(32, 3, activation="relu")(inputs)
        h = keras.layers.MaxPooling2D()(h)
        h = keras.layers.Conv2D(64, 3, activation="relu")(h)
        h = keras.layers.MaxPooling2D()(h)
        features = keras.layers.Dense(128, activation="relu")(keras.layers.Flatten()(h))
        classifier = keras.Model(inputs, keras.layers.Dense(10)(features))
        classifier.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                           metrics=["accuracy"])
        classifier.fit(train_set.x, train_set.y, epochs=epochs, batch_size=128, verbose=0)
        self.accuracy = classifier.evaluate(test_set.x, test_set.y, verbose=0)[1]
        self.network = keras.Model(inputs, features)
        self.description = (f"STAND-IN FID: Frechet distance of the 128 penultimate features of "
                            f"a CNN classifier trained here on mnist5k/train (test accuracy "
                            f"{self.accuracy:.3f}); not the shipped network of issue 18")

    def __call__(self, images):
        return self.network.predict(np.asarray(images, "float32"), batch_size=256, verbose=0)


def fid_function(train_set, test_set):
    """``(fid(real, fake), description)``: issue 18's metric when it is installed, else the
    stand-in (see the module)."""
    try:
        from ae_zoo.evaluation import generation  # noqa: PLC0415  (issue 18; optional)
    except ImportError:
        generation = None
    if generation is not None and hasattr(generation, "generation_metrics"):
        def fid(real, fake):
            return float(generation.generation_metrics(real, fake)["fid"])

        return fid, "FID: ae_zoo.evaluation.generation with its shipped mnist5k feature network"
    features = StandInFeatures(train_set, test_set)
    cache = {}

    def fid(real, fake):
        key = id(real)
        if key not in cache:
            cache[key] = features(real)
        return frechet(cache[key], features(fake))

    return fid, features.description


# --------------------------------------------------------------- the benchmark
def samplers_for(model, names):
    """The samplers to measure for ``model``: ``(label, sampler name or None: the prior)``."""
    if model.latent_kind == "discrete":
        return [("pixelcnn", "pixelcnn")]
    chosen = [("prior", None)] if model.generative else []
    return chosen + [(n, n) for n in names if not (model.generative and n == "normal")]


def measure(name, args, train_set, test_set, fid, out):
    start = time.time()
    result = train(name, "mnist5k", epochs=args.epochs, seed=args.seed, iwae_samples=0,
                   out=os.path.join(out, name), verbose=0,
                   overrides=["export=null", "sampler.name=none"])
    model, metrics = result["model"], result["metrics"]
    row = {"model": name, "mse": metrics["test_reconstruction_mse"],
           "latent_dim": int(model.latent_dim), "train_s": metrics["train_seconds"], "fid": {}}
    for label, sampler in samplers_for(model, args.samplers.split(",")):
        t = time.time()
        if sampler is not None:
            samplers.create(sampler, **SAMPLER_OPTIONS.get(sampler, {})).fit(
                model, train_set.x, seed=args.seed)
        draws = np.asarray(model.sample(args.samples, seed=args.seed))
        row["fid"][label] = fid(test_set.x, draws)
        model.detach_sampler()
        print(f"  {name} + {label}: FID {row['fid'][label]:.2f} ({time.time() - t:.0f} s)",
              flush=True)
    print(f"{name}: test MSE {row['mse']:.5f}, {time.time() - start:.0f} s in all", flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--samplers", default=",".join(CONTINUOUS_SAMPLERS))
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="keep the runs here (default: a temp dir)")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="ae_zoo_generation_")
    train_set, test_set = data.load("mnist5k", "train"), data.load("mnist5k", "test")
    fid, description = fid_function(train_set, test_set)
    print(description, flush=True)
    print(f"FID of the train split's first {len(test_set)} digits against the test split: "
          f"{fid(test_set.x, train_set.x[:len(test_set)]):.2f} (a floor)", flush=True)
    rows = [measure(n, args, train_set, test_set, fid, out) for n in args.models.split(",") if n]
    labels = ["prior", *args.samplers.split(","), "pixelcnn"]
    labels = [lab for lab in dict.fromkeys(labels) if any(lab in r["fid"] for r in rows)]
    print(f"\nmnist5k, dense 784-512-256 nets, <= {args.epochs} epochs, seed {args.seed}; "
          f"FID of {args.samples} samples vs the {len(test_set)} test digits")
    print(f"({description})")
    print(f"{'model':<10} {'latent':>6} {'test MSE':>9} " + " ".join(f"{lab:>9}" for lab in labels)
          + f" {'train s':>8}")
    for r in rows:
        cells = " ".join(f"{r['fid'][lab]:9.2f}" if lab in r["fid"] else f"{'-':>9}" for lab in labels)
        print(f"{r['model']:<10} {r['latent_dim']:6d} {r['mse']:9.5f} {cells} {r['train_s']:8.1f}")


if __name__ == "__main__":
    main()
