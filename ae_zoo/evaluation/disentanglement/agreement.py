"""Unsupervised Disentanglement Ranking (Duan et al. 2020, "Unsupervised Model Selection for
Variational Disentangled Representation Learning"): disentangled runs of one setup agree
with each other up to a permutation of their codes; entangled ones do not."""

import numbers

import numpy as np

from ae_zoo.evaluation.disentanglement._common import (
    _check_codes,
    _check_ground_truth_data,
    _check_positive_int,
    _check_posterior,
    _check_random_state,
    _check_representation_function,
    _sample_factors,
)

CORRELATIONS = ("lasso", "spearman")


def udr(ground_truth_data, representation_functions, random_state, *, num_data_points=1000,
        correlation_matrix="lasso", filter_low_kl=True, kl_filter_threshold=0.01,
        batch_size=10):
    """UDR score of each of several representations (disentanglement_lib's ``udr_sklearn``).

    ``representation_functions``: two or more functions, each mapping observations to the
    Gaussian posterior ``(mean, scale)`` (the code is the mean; the KL to N(0, I) per
    dimension, 0.5 (mean^2 + scale^2 - log scale^2 - 1) averaged over the points, marks the
    informative dimensions), or to codes alone (no dimension is then filtered out).
    Typically the runs of one model and hyperparameters with different seeds.

    All functions encode the same ``num_data_points`` observations. Each code is
    standardised and dimensions with KL <= 0.01 are zeroed. For each ordered pair (i, j),
    R[a, b] = |coefficient of code a of i predicting code b of j| (``"lasso"``: one
    multi-output Lasso, alpha 0.1) or |Spearman correlation| (``"spearman"``); with
    ``filter_low_kl`` the dimensions with KL <= ``kl_filter_threshold`` are dropped from R.
    UDR_ij = (mean over columns b of max_a R[a, b]^2 / sum_a R[a, b] + the same over rows)
    / 2 (a column or row that sums to 0 counts 0); the score of run i is the median of
    UDR_ji over j != i.

    Defaults (disentanglement_lib's udr config): num_data_points=1000, lasso,
    filter_low_kl=True, kl_filter_threshold=0.01, batch_size=10.

    Returns ``{"udr_0", ..., "udr_<M-1>"}`` (one per function, in their order) and
    ``"pairwise_mean"`` (the mean of UDR_ij over all ordered pairs).
    """
    _check_ground_truth_data(ground_truth_data)
    functions = list(representation_functions) if not callable(representation_functions) \
        else [representation_functions]
    if len(functions) < 2:
        raise ValueError("udr compares representations with each other: pass at least two "
                         f"representation functions, got {len(functions)}.")
    for function in functions:
        _check_representation_function(function)
    rs = _check_random_state(random_state)
    _check_positive_int("num_data_points", num_data_points, minimum=2)
    _check_positive_int("batch_size", batch_size)
    if correlation_matrix not in CORRELATIONS:
        raise ValueError(f"correlation_matrix must be one of {CORRELATIONS}, got "
                         f"{correlation_matrix!r}.")
    if isinstance(kl_filter_threshold, bool) or not isinstance(kl_filter_threshold,
                                                               numbers.Real):
        raise ValueError(f"kl_filter_threshold must be a number, got {kl_filter_threshold!r}.")
    codes, kl = _encode_all(ground_truth_data, functions, num_data_points, rs, batch_size)
    codes = [_standardize(c) * (k > 0.01) for c, k in zip(codes, kl)]
    keep = [k > kl_filter_threshold if filter_low_kl else np.ones(len(k), bool) for k in kl]
    num = len(functions)
    pairwise = np.zeros((num, num))
    for i in range(num):
        for j in range(num):
            if i != j:
                corr = _correlation(codes[i], codes[j], correlation_matrix)
                pairwise[i, j] = _relative_strength(corr[keep[i]][:, keep[j]])
    scores = {f"udr_{i}": float(np.median(np.delete(pairwise[:, i], i))) for i in range(num)}
    scores["pairwise_mean"] = float(pairwise.sum() / (num * (num - 1)))
    return scores


def _encode_all(ground_truth_data, functions, num, random_state, batch_size):
    """(codes [M][num, D_m], KL per dimension [M][D_m]; +inf where a function gives codes
    only) of the same ``num`` observations."""
    sizes = np.asarray([int(s) for s in ground_truth_data.factor_sizes])
    codes, kls = [[] for _ in functions], [[] for _ in functions]
    dims = [None] * len(functions)
    for start in range(0, num, batch_size):
        factors = _sample_factors(ground_truth_data, sizes, min(batch_size, num - start),
                                  random_state)
        observations = ground_truth_data.sample_observations_from_factors(factors,
                                                                          random_state)
        for m, function in enumerate(functions):
            output = function(observations)
            if isinstance(output, (tuple, list)):
                mean, scale = _check_posterior(output, len(factors), dims[m])
                kl = 0.5 * (mean ** 2 + scale ** 2 - 2.0 * np.log(np.maximum(scale, 1e-30)) - 1.0)
            else:
                mean = _check_codes(output, len(factors), dims[m])
                kl = np.full(mean.shape, np.inf)
            dims[m] = mean.shape[1]
            codes[m].append(mean)
            kls[m].append(kl)
    return ([np.concatenate(c) for c in codes],
            [np.concatenate(k).mean(axis=0) for k in kls])


def _standardize(codes):
    """(codes - mean) / std per dimension; a constant dimension is only centred (as
    scikit-learn's StandardScaler)."""
    std = codes.std(axis=0)
    return (codes - codes.mean(axis=0)) / np.where(std > 0, std, 1.0)


def _correlation(a, b, kind):
    """R [D_a, D_b]: |Lasso coefficients| of a predicting b, or |Spearman correlations|."""
    if kind == "lasso":
        from sklearn.linear_model import Lasso  # scikit-learn loads on first use (~1.5 s)

        return np.abs(Lasso(alpha=0.1).fit(a, b).coef_).T.reshape(a.shape[1], b.shape[1])
    from scipy.stats import rankdata  # scipy.stats loads on first use (~0.5 s)

    ranks_a, ranks_b = (_standardize(rankdata(c, axis=0)) for c in (a, b))
    return np.abs(ranks_a.T @ ranks_b / len(a))  # a constant column correlates 0


def _relative_strength(corr):
    """(mean_b max_a R^2 / sum_a R + mean_a max_b R^2 / sum_b R) / 2, 0/0 counting 0."""
    if corr.size == 0:
        return 0.0

    def one_side(r, axis):
        total = r.sum(axis=axis)
        return np.mean(np.divide(r.max(axis=axis) ** 2, total, out=np.zeros_like(total),
                                 where=total > 0))

    return float((one_side(corr, 0) + one_side(corr, 1)) / 2)
