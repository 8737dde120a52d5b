"""The Interventional Robustness Score (Suter et al. 2019, "Robustly Disentangled Causal
Mechanisms: Validating Deep Representations for Interventional Robustness")."""

import numbers

import numpy as np

from ae_zoo.evaluation.disentanglement._common import (
    _DEFAULT_BATCH_SIZE,
    _DEFAULT_NUM_BINS,
    _check_positive_int,
    _discretize,
    _sample_codes_and_factors,
    _setup,
)


def irs(ground_truth_data, representation_function, random_state, *, num_train=10000,
        diff_quantile=0.99, num_bins=_DEFAULT_NUM_BINS, batch_size=_DEFAULT_BATCH_SIZE):
    """Interventional Robustness Score: how little a code dimension moves when the factors
    other than its own are intervened on.

    Factors are put into ``num_bins`` equal-width bins (disentanglement_lib's histogram
    discretizer: factors with fewer values keep one bin per value); constant code
    dimensions are dropped. For code d and factor k, with v running over the bins of k:
    EMPIDA[d, k] = mean_v q-quantile over the points with v_k = v of |z_d - E[z_d | v_k = v]|
    (q = ``diff_quantile``); IRS[d, k] = 1 - EMPIDA[d, k] / max |z_d - E z_d|;
    score_d = max_k IRS[d, k]; irs = the mean of score_d weighted by max |z_d - E z_d|.
    1 means each code moves only with its own factor; codes that ignore the data score
    about 1 - q-quantile / maximum of their own spread (0.3-0.4 for Gaussian noise).

    Defaults (disentanglement_lib's irs config): num_train=10000, diff_quantile=0.99 (1.0
    is the version of the paper), num_bins=20.

    Returns ``{"irs", "num_active_dims"}`` (irs 0 when no dimension varies).
    """
    sizes, rs = _setup(ground_truth_data, representation_function, random_state, batch_size,
                       num_train=num_train)
    _check_positive_int("num_bins", num_bins, minimum=2)
    if isinstance(diff_quantile, bool) or not isinstance(diff_quantile, numbers.Real) \
            or not 0.0 < diff_quantile <= 1.0:
        raise ValueError(f"diff_quantile must be in (0, 1], got {diff_quantile!r}.")
    codes, factors = _sample_codes_and_factors(ground_truth_data, representation_function,
                                               sizes, num_train, rs, batch_size)
    codes = codes[:, np.var(codes, axis=0) > 0]
    if codes.shape[1] == 0:
        return {"irs": 0.0, "num_active_dims": 0.0}
    return {"irs": _irs_score(_discretize(factors, num_bins), codes, diff_quantile),
            "num_active_dims": float(codes.shape[1])}


def _irs_score(factors, codes, diff_quantile):
    """IRS of codes [n, D] against discrete factors [n, K] (see :func:`irs`)."""
    spread = np.max(np.abs(codes - codes.mean(axis=0)), axis=0)  # [D]
    deviation = np.zeros((codes.shape[1], factors.shape[1]))
    for k in range(factors.shape[1]):
        values = np.unique(factors[:, k])
        for value in values:
            group = codes[factors[:, k] == value]
            deviation[:, k] += np.quantile(np.abs(group - group.mean(axis=0)), diff_quantile,
                                           axis=0)
        deviation[:, k] /= len(values)
    per_code = np.max(1.0 - deviation / spread[:, None], axis=1)
    return float(np.average(per_code, weights=spread))
