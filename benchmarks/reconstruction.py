"""Trains each model on mnist5k for a fixed budget and prints its test reconstruction error.

    python benchmarks/reconstruction.py [--epochs 10] [--models ae,conv_ae,...] [--out DIR]

Reconstruction error is the per-pixel MSE between the 1,000 test digits and their
reconstructions (for the denoising model: of the clean input; noise is training-only).
The VAE family also reports the test ELBO and the importance-weighted -log p(x).
"""

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ae_zoo import models  # noqa: E402
from ae_zoo.experiments.train import train  # noqa: E402

DEFAULT_MODELS = ("ae", "conv_ae", "denoising_ae", "sparse_ae", "vae", "beta_vae", "cvae")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="keep the runs here (default: a temp dir)")
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    for name in names:
        models.get(name)
    out = args.out or tempfile.mkdtemp(prefix="ae_zoo_bench_")
    rows = []
    for name in names:
        result = train(name, "mnist5k", epochs=args.epochs, latent_dim=args.latent_dim,
                       seed=args.seed, out=os.path.join(out, name), verbose=0)
        m = result["metrics"]
        rows.append((name, m["test_reconstruction_mse"], m.get("test_elbo"),
                     m.get("test_iwae_nll"), m["train_seconds"]))
        print(f"{name}: done in {m['train_seconds']:.1f}s", flush=True)
    print(f"\nmnist5k, {args.epochs} epochs, latent {args.latent_dim}, batch 128, seed {args.seed}")
    print(f"{'model':<14} {'test MSE/pixel':>14} {'test ELBO':>10} {'IWAE -log p(x)':>15} {'train s':>8}")
    for name, mse, elbo, nll, secs in rows:
        elbo_s = f"{elbo:10.2f}" if elbo is not None else f"{'-':>10}"
        nll_s = f"{nll:15.2f}" if nll is not None else f"{'-':>15}"
        print(f"{name:<14} {mse:14.5f} {elbo_s} {nll_s} {secs:8.1f}")


if __name__ == "__main__":
    main()
