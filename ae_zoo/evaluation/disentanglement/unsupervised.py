"""The unsupervised scores of Locatello et al. 2019: how correlated the code dimensions are
(Gaussian total correlation, Gaussian Wasserstein correlation, mutual information)."""

import numpy as np

from ae_zoo.evaluation.disentanglement._common import (
    _DEFAULT_BATCH_SIZE,
    _DEFAULT_NUM_BINS,
    _check_positive_int,
    _discretize,
    _mutual_info_matrix,
    _sample_codes_and_factors,
    _setup,
    sampled_representation,
)


def _gaussian_total_correlation(cov):
    """KL(N(0, cov) || N(0, diag(cov))) = 0.5 (sum_i log cov_ii - log det cov)."""
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return float("inf")
    return float(0.5 * (np.sum(np.log(np.diag(cov))) - logdet))


def _gaussian_wasserstein_correlation(cov):
    """W2^2(N(0, cov), N(0, diag(cov))) = 2 tr(cov) - 2 tr((S cov S)^(1/2)), S = diag(cov)^(1/2)."""
    scale = np.sqrt(np.diag(cov))
    eig = np.linalg.eigvalsh(scale[:, None] * cov * scale[None, :])
    return float(2.0 * np.trace(cov) - 2.0 * np.sum(np.sqrt(np.clip(eig, 0.0, None))))


def unsupervised_scores(ground_truth_data, representation_function, random_state, *,
                        num_train=10000, num_bins=_DEFAULT_NUM_BINS,
                        batch_size=_DEFAULT_BATCH_SIZE):
    """Unsupervised scores (Locatello et al. 2019, section on unsupervised metrics).

    With Cov the sample covariance of the codes (ddof=1):
    gaussian_total_correlation = KL(N(0, Cov) || N(0, diag Cov)) = 0.5 (sum log diag Cov -
    log det Cov); gaussian_wasserstein_correlation = W2^2 between the same two Gaussians =
    2 tr Cov - 2 tr((S Cov S)^(1/2)), S = diag(Cov)^(1/2), and its "_norm" version divided
    by tr Cov; mutual_info_score = mean discrete MI between pairs of distinct code
    dimensions (``num_bins`` equal-width bins). Code dimensions with zero variance are
    constant, independent of the others, and are left out of the Gaussian scores; an
    exactly singular remaining covariance gives an infinite total correlation.

    Defaults (Locatello et al. 2019): num_train=10000, num_bins=20.

    Returns ``{"gaussian_total_correlation", "gaussian_wasserstein_correlation",
    "gaussian_wasserstein_correlation_norm", "mutual_info_score"}``.
    """
    sizes, rs = _setup(ground_truth_data, representation_function, random_state, batch_size,
                       num_train=num_train)
    _check_positive_int("num_bins", num_bins, minimum=2)
    codes, _ = _sample_codes_and_factors(ground_truth_data, representation_function, sizes,
                                         num_train, rs, batch_size)
    return _correlation_scores(codes, num_bins)


def unsupervised_scores_sampled(ground_truth_data, representation_function, random_state, *,
                                num_train=10000, num_bins=_DEFAULT_NUM_BINS,
                                batch_size=_DEFAULT_BATCH_SIZE):
    """:func:`unsupervised_scores` of the sampled representation z ~ q(z|x) (Locatello et
    al. 2019, section 4, "the aggregated posterior"; disentanglement_lib's ``sampled``
    post-processing followed by its ``unsupervised`` metric).

    ``representation_function`` maps observations to the Gaussian posterior ``(mean,
    scale)``, each [num, D] (e.g. ``lambda x: model.encode(x, return_distribution=True)``);
    each observation's code is one draw z = mean + scale * eps, eps ~ N(0, I) from
    ``random_state`` (see :func:`sampled_representation`). The scores of the mean
    representation are :func:`unsupervised_scores` of ``lambda x: f(x)[0]``.

    Defaults (Locatello et al. 2019): num_train=10000, num_bins=20.

    Returns the keys of :func:`unsupervised_scores`.
    """
    sizes, rs = _setup(ground_truth_data, representation_function, random_state, batch_size,
                       num_train=num_train)
    _check_positive_int("num_bins", num_bins, minimum=2)
    codes, _ = _sample_codes_and_factors(ground_truth_data,
                                         sampled_representation(representation_function, rs),
                                         sizes, num_train, rs, batch_size)
    return _correlation_scores(codes, num_bins)


def _correlation_scores(codes, num_bins):
    """The four unsupervised scores of codes [num, D] (see :func:`unsupervised_scores`)."""
    varying = codes[:, np.var(codes, axis=0) > 0]
    if varying.shape[1] == 0:
        tc = wc = wc_norm = 0.0
    else:
        cov = np.atleast_2d(np.cov(varying, rowvar=False))
        tc = _gaussian_total_correlation(cov)
        wc = _gaussian_wasserstein_correlation(cov)
        wc_norm = wc / float(np.trace(cov))
    num_codes = codes.shape[1]
    if num_codes > 1:
        binned = _discretize(codes, num_bins)
        info = _mutual_info_matrix(binned, binned)
        np.fill_diagonal(info, 0.0)
        mi_score = float(info.sum() / (num_codes * (num_codes - 1)))
    else:
        mi_score = 0.0
    return {
        "gaussian_total_correlation": tc,
        "gaussian_wasserstein_correlation": wc,
        "gaussian_wasserstein_correlation_norm": wc_norm,
        "mutual_info_score": mi_score,
    }
