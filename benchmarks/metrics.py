"""Wall-clock and CPU time of each disentanglement metric with its default settings, and
DCI's estimators against disentanglement_lib's classifier.

    python benchmarks/metrics.py [--data dsprites|synthetic] [--seed 0] [--with-sklearn-gbt]

``--data dsprites`` (default): the procedural dSprites generator, factor_sizes (3, 6, 40,
32, 32), and the hand-made representation of issue 21, computed from each image: centroid
x, centroid y, sqrt(area) and two fixed random projections of the pixels.
``--data synthetic``: observations are the 10-vector [factors scaled to [0, 1] +
N(0, 0.05^2) noise, 5 dims of N(0, 0.05^2) nuisance] and the representation a fixed
near-identity 10x10 mixing of it (no rendering).

Each metric runs with its defaults (Locatello et al. 2019 settings: 10,000 training
points, DCI's 5,000 test points). Target: the whole set under 2 minutes on a 2-core
machine. DCI also runs with the fast binned trees (``estimator="hist_gbt"``), and with
``--with-sklearn-gbt`` with disentanglement_lib's own classifier, scikit-learn's
``GradientBoostingClassifier()`` (``estimator="gbt"``, several CPU-minutes), to show each
estimator's difference from it (target: the default within 0.02).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from ae_zoo.data import DSprites  # noqa: E402
from ae_zoo.evaluation import disentanglement as dm  # noqa: E402

FACTOR_SIZES = (3, 6, 40, 32, 32)


class SyntheticDSprites:
    """dSprites-sized ground truth whose observations are noisy scaled factors."""

    factor_sizes = FACTOR_SIZES

    def __init__(self, noise=0.05, nuisance_dims=5):
        self.noise = noise
        self.nuisance_dims = nuisance_dims
        self._scale = 1.0 / (np.array(FACTOR_SIZES) - 1)

    def sample_factors(self, num, random_state):
        return np.stack([random_state.randint(s, size=num) for s in self.factor_sizes], axis=1)

    def sample_observations_from_factors(self, factors, random_state):
        signal = factors * self._scale
        extra = np.zeros((len(factors), self.nuisance_dims))
        obs = np.concatenate([signal, extra], axis=1)
        return (obs + self.noise * random_state.randn(*obs.shape)).astype(np.float32)


def mixing_representation(seed=1234, dims=10):
    """A fixed near-identity mixing: z = x @ (I + 0.3 G), G standard normal."""
    mixing = np.eye(dims) + 0.3 * np.random.RandomState(seed).randn(dims, dims)
    return lambda x: np.asarray(x, dtype=np.float64) @ mixing


def sprite_representation(seed=1234):
    """Codes [n, 5] of dSprites images: centroid x, centroid y, sqrt(area) (in pixels) and
    two projections of the pixels on fixed N(0, 1/4096) directions."""
    projection = np.random.RandomState(seed).randn(64 * 64, 2) / 64.0
    cols = np.arange(64, dtype=np.float64)

    def represent(images):
        pixels = np.asarray(images, dtype=np.float64)[..., 0]  # [n, 64, 64]
        area = np.maximum(pixels.sum(axis=(1, 2)), 1.0)
        x = (pixels.sum(axis=1) @ cols) / area
        y = (pixels.sum(axis=2) @ cols) / area
        return np.c_[x, y, np.sqrt(area), pixels.reshape(len(pixels), -1) @ projection]

    return represent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("dsprites", "synthetic"), default="dsprites")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--with-sklearn-gbt", action="store_true")
    args = parser.parse_args()

    if args.data == "dsprites":
        data, represent = DSprites(), sprite_representation()
    else:
        data, represent = SyntheticDSprites(), mixing_representation()
    runs = [(name, fn, {}) for name, fn in dm.METRICS.items()]
    runs.append(("dci[hist_gbt]", dm.dci, {"estimator": "hist_gbt"}))
    if args.with_sklearn_gbt:
        runs.append(("dci[gbt]", dm.dci, {"estimator": "gbt"}))

    rows = []
    for name, fn, settings in runs:
        wall, cpu = time.perf_counter(), time.process_time()
        scores = fn(data, represent, np.random.RandomState(args.seed), **settings)
        rows.append((name, time.perf_counter() - wall, time.process_time() - cpu, scores))
        print(f"  {name}: {time.perf_counter() - wall:.1f} s", flush=True)

    print(f"\n{args.data}: factor_sizes={FACTOR_SIZES}, default settings, {os.cpu_count()} "
          f"CPUs, load average {os.getloadavg()[0]:.1f}\n")
    print(f"{'metric':<26}{'wall s':>8}{'cpu s':>8}  scores")
    for name, wall, cpu, scores in rows:
        shown = {k: round(v, 3) for k, v in scores.items()
                 if "per_factor" not in k and "_factor_" not in k}
        print(f"{name:<26}{wall:>8.1f}{cpu:>8.1f}  {shown}")
    main_rows = [r for r in rows if r[0] in dm.METRICS]
    print(f"{'total':<26}{sum(r[1] for r in main_rows):>8.1f}{sum(r[2] for r in main_rows):>8.1f}")
    dci = {name: scores for name, _, _, scores in rows if name.startswith("dci")}
    if "dci[gbt]" in dci:
        reference = dci["dci[gbt]"]
        for name in ("dci", "dci[hist_gbt]"):
            print(f"{name} - dci[gbt]: " + ", ".join(
                f"{k} {dci[name][k] - reference[k]:+.3f}" for k in reference))


if __name__ == "__main__":
    main()
