"""Wall-clock and CPU time of each disentanglement metric with its default settings.

    python benchmarks/metrics.py [--seed 0] [--with-sklearn-gbt]

Ground truth mimics dSprites' factors, factor_sizes (3, 6, 40, 32, 32); an observation is
the 10-vector [factors scaled to [0, 1] + N(0, 0.05^2) noise, 5 dims of N(0, 0.05^2)
nuisance]; the representation is a fixed, near-identity 10x10 linear mixing of it (so
every factor is spread over several codes, with noise dims mixed in). Each metric runs
with its defaults (10,000 points; Locatello et al. 2019 settings). Target: the whole set
under 2 minutes on a 2-core machine.

``--with-sklearn-gbt`` also times DCI with disentanglement_lib's exact classifier
(``estimator="gbt"``, several CPU-minutes) to compare its scores with the default.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

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


def make_representation(seed=1234, dims=10):
    """A fixed near-identity mixing: z = x @ (I + 0.3 G), G standard normal."""
    mixing = np.eye(dims) + 0.3 * np.random.RandomState(seed).randn(dims, dims)
    return lambda x: np.asarray(x, dtype=np.float64) @ mixing


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--with-sklearn-gbt", action="store_true")
    args = parser.parse_args()

    data = SyntheticDSprites()
    represent = make_representation()
    runs = [(name, fn, {}) for name, fn in dm.METRICS.items()]
    if args.with_sklearn_gbt:
        runs.append(("dci[gbt]", dm.dci, {"estimator": "gbt"}))

    rows = []
    for name, fn, settings in runs:
        wall, cpu = time.perf_counter(), time.process_time()
        scores = fn(data, represent, np.random.RandomState(args.seed), **settings)
        rows.append((name, time.perf_counter() - wall, time.process_time() - cpu, scores))
        print(f"  {name}: {time.perf_counter() - wall:.1f} s", flush=True)

    print(f"\nfactor_sizes={FACTOR_SIZES}, 10-dim representation, default settings, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n")
    print(f"{'metric':<26}{'wall s':>8}{'cpu s':>8}  scores")
    for name, wall, cpu, scores in rows:
        shown = {k: round(v, 3) for k, v in scores.items() if not k.startswith("mig_per")}
        print(f"{name:<26}{wall:>8.1f}{cpu:>8.1f}  {shown}")
    main_rows = [r for r in rows if r[0] in dm.METRICS]
    print(f"{'total':<26}{sum(r[1] for r in main_rows):>8.1f}{sum(r[2] for r in main_rows):>8.1f}")


if __name__ == "__main__":
    main()
