"""DCI (Eastwood & Williams 2018): disentanglement, completeness and informativeness from
the feature importances of one gradient-boosted tree classifier per factor."""

import numpy as np

from ae_zoo.evaluation.disentanglement._common import (
    _DEFAULT_BATCH_SIZE,
    _check_positive_int,
    _normalized_entropy,
    _sample_codes_and_factors,
    _seed,
    _setup,
)
from ae_zoo.evaluation.disentanglement._gbt import BinnedGradientBoostingClassifier


def _dci_from_importance(importance):
    """(disentanglement, completeness) of an importance matrix R [D codes, K factors].

    Eastwood & Williams 2018: D = sum_d rho_d (1 - H_K(P_d.)), P_dk = R_dk / sum_k R_dk,
    rho_d = sum_k R_dk / sum R; C = sum_k rho_k (1 - H_D(P_.k)) symmetrically.
    """
    importance = np.abs(np.asarray(importance, dtype=np.float64))
    if importance.ndim != 2:
        raise ValueError(f"importance must be a matrix [D, K], got shape {importance.shape}.")
    total = importance.sum()
    if total == 0:
        return 0.0, 0.0
    code_weight = importance.sum(axis=1) / total
    factor_weight = importance.sum(axis=0) / total
    disentanglement = np.sum(code_weight * (1.0 - _normalized_entropy(importance, axis=1)))
    completeness = np.sum(factor_weight * (1.0 - _normalized_entropy(importance, axis=0)))
    return float(disentanglement), float(completeness)


def _fit_importance(estimator, x_train, y_train, x_test, y_test):
    """(|feature importances| [D], train accuracy, test accuracy) for one factor."""
    if np.unique(y_train).size < 2:  # a constant factor (tiny num_train): nothing to learn
        return (np.zeros(x_train.shape[1]), 1.0, float(np.mean(y_test == y_train[0])))
    model = estimator.fit(x_train, y_train)
    train_predictions = getattr(model, "train_predictions_", None)  # hist_gbt keeps them
    if train_predictions is None:
        train_predictions = model.predict(x_train)
    return (np.abs(np.asarray(model.feature_importances_, dtype=np.float64)),
            float(np.mean(train_predictions == y_train)),
            float(np.mean(model.predict(x_test) == y_test)))


def _dci_estimator(estimator, seed, max_bins):
    from sklearn.base import clone  # scikit-learn loads on first use (~1.5 s)
    from sklearn.ensemble import GradientBoostingClassifier  # scikit-learn loads on first use (~1.5 s)


    if isinstance(estimator, str):
        if estimator == "hist_gbt":
            return BinnedGradientBoostingClassifier(max_bins=max_bins, random_state=seed)
        if estimator == "gbt":
            return GradientBoostingClassifier(random_state=seed)
    elif hasattr(estimator, "fit") and hasattr(estimator, "predict"):
        return clone(estimator)
    raise ValueError(
        f"estimator must be 'hist_gbt', 'gbt' or an unfitted sklearn classifier that "
        f"exposes feature_importances_ after fit, got {estimator!r}."
    )


def dci(ground_truth_data, representation_function, random_state, *, num_train=10000,
        num_test=5000, estimator="hist_gbt", max_bins=256, n_jobs=None,
        batch_size=_DEFAULT_BATCH_SIZE):
    """DCI disentanglement, completeness, informativeness (Eastwood & Williams 2018, "A
    Framework for the Quantitative Evaluation of Disentangled Representations").

    Per factor k a gradient-boosted tree classifier codes -> v_k; R[d, k] = |importance of
    code d for v_k| (impurity-based, summing to 1 per factor).
    disentanglement = sum_d rho_d (1 - H_K(P_d.)), P_dk = R_dk / sum_k R_dk,
    rho_d = sum_k R_dk / sum R; completeness = sum_k rho_k (1 - H_D(P_.k)),
    P_dk = R_dk / sum_d R_dk, rho_k = sum_d R_dk / sum R (entropies in log base K, D);
    informativeness = classification accuracy averaged over factors (train and test).

    ``estimator``:

    * ``"hist_gbt"`` (default): disentanglement_lib's classifier, scikit-learn's
      ``GradientBoostingClassifier()`` (100 stages of depth-3 trees, learning rate 0.1,
      log-loss, impurity importances), re-implemented with split thresholds restricted to
      ``max_bins`` quantile bins per code dimension (exact when a dimension has at most
      ``max_bins`` distinct values) so that all class trees of a stage grow together from
      histograms. On dSprites-sized factors (3+6+40+32+32 classes) and 10,000 x 10 codes
      it takes ~25 s CPU instead of ~5.5 min. The binning is the only change, but
      boosting with 30-40 classes is sensitive to it: on the mixed representations
      compared, D and C came out 0.02-0.03 lower than with ``"gbt"`` (benchmarks/
      metrics.py: D 0.39 vs 0.42, C 0.38 vs 0.39, test accuracy 0.465 vs 0.461).
    * ``"gbt"``: exactly disentanglement_lib's ``GradientBoostingClassifier()``; use it to
      reproduce published numbers when several CPU-minutes per call are affordable.
    * an unfitted sklearn classifier exposing ``feature_importances_`` (cloned per factor).

    ``max_bins >= num_train`` makes every threshold a candidate: the same model as "gbt" up
    to tie-breaking, and about as slow.

    ``n_jobs``: fit the K factors' classifiers in that many threads (joblib; both tree
    builders release the GIL for most of their work); None = 1. Scores do not depend on it.

    Defaults (Locatello et al. 2019): num_train=10000, num_test=5000.

    Returns ``{"disentanglement", "completeness", "informativeness_train",
    "informativeness_test"}``.
    """
    sizes, rs = _setup(ground_truth_data, representation_function, random_state, batch_size,
                       num_train=num_train, num_test=num_test)
    _check_positive_int("max_bins", max_bins, minimum=2)
    _dci_estimator(estimator, 0, max_bins)  # fail before sampling
    x_train, y_train = _sample_codes_and_factors(ground_truth_data, representation_function,
                                                 sizes, num_train, rs, batch_size)
    x_test, y_test = _sample_codes_and_factors(ground_truth_data, representation_function,
                                               sizes, num_test, rs, batch_size)
    jobs = [(_dci_estimator(estimator, _seed(rs), max_bins), x_train, y_train[:, k], x_test,
             y_test[:, k]) for k in range(len(sizes))]
    if n_jobs is None or n_jobs == 1:
        results = [_fit_importance(*job) for job in jobs]
    else:
        from joblib import Parallel, delayed  # only when DCI fits factors in parallel

        results = Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(_fit_importance)(*job) for job in jobs)
    importance = np.stack([r[0] for r in results], axis=1)  # [D, K]
    disentanglement, completeness = _dci_from_importance(importance)
    return {
        "disentanglement": disentanglement,
        "completeness": completeness,
        "informativeness_train": float(np.mean([r[1] for r in results])),
        "informativeness_test": float(np.mean([r[2] for r in results])),
    }
