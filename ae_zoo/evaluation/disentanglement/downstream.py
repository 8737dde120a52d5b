"""disentanglement_lib's downstream task (Locatello et al. 2019, section 5.4): how well, and
from how few examples, simple classifiers predict each factor from the codes."""

import numbers

import numpy as np

from ae_zoo.evaluation.disentanglement._common import (
    _DEFAULT_BATCH_SIZE,
    _sample_codes_and_factors,
    _seed,
    _setup,
)
from ae_zoo.evaluation.disentanglement._logistic import LogisticRegressionCV
from ae_zoo.evaluation.disentanglement.importance import _fit_factors, _tree_estimator

#: The predictors and the short name of their scores.
PREDICTORS = {"logistic_regression": "lr", "boosted_trees": "gbt"}


def _check_sizes(name, sizes):
    sizes = (sizes,) if isinstance(sizes, numbers.Integral) else tuple(sizes)
    if not sizes or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 2
                        for s in sizes) or len(set(sizes)) != len(sizes):
        raise ValueError(f"{name} must be an int >= 2 or distinct ints >= 2, got {sizes!r}.")
    return tuple(sorted(int(s) for s in sizes))


def downstream_task(ground_truth_data, representation_function, random_state, *,
                    num_train=(10, 100, 1000, 10000), num_test=5000,
                    predictors=("logistic_regression", "boosted_trees"),
                    efficiency_sizes=(100, 10000), estimator="exact_gbt", n_jobs=-1,
                    batch_size=_DEFAULT_BATCH_SIZE):
    """Downstream task: predict every factor from the codes with a classifier trained on
    few or many labelled examples (disentanglement_lib's ``downstream_task``).

    For each size n of ``num_train``: n fresh training points and ``num_test`` fresh test
    points; per factor k a new classifier codes -> v_k; its train and test accuracy.
    Predictors (disentanglement_lib's two configs): ``"logistic_regression"``, its
    ``logistic_regression_cv``, ``LogisticRegressionCV(Cs=10, cv=KFold(5))`` (one-vs-rest
    L2 logistic regressions, each class's C among logspace(-4, 4, 10) by 5-fold
    cross-validated accuracy; solved exactly by ``_logistic.py``), and
    ``"boosted_trees"``, its ``GradientBoostingClassifier()`` (the trees of :func:`dci`,
    ``estimator`` as there).
    ``n_jobs``: factors fitted in that many threads (-1: one per CPU core).
    Sample efficiency (Locatello et al.): the mean test accuracy from
    ``efficiency_sizes[0]`` examples over that from ``efficiency_sizes[1]``, reported when
    both are among ``num_train``. Both predictors see the same points, as disentanglement_lib's
    two runs with the same seed do.

    Defaults (Locatello et al. 2019): num_train=(10, 100, 1000, 10000), num_test=5000,
    efficiency (100, 10000).

    Returns, per predictor p (``lr``, ``gbt``) and size n: ``p_n_test_accuracy`` (mean over
    factors), ``p_n_train_accuracy``, ``p_n_min_test_accuracy``,
    ``p_n_test_accuracy_factor_<k>``; ``p_test_accuracy`` (at the largest size) and
    ``p_sample_efficiency``.
    """
    sizes = _check_sizes("num_train", num_train)
    factor_sizes, rs = _setup(ground_truth_data, representation_function, random_state,
                              batch_size, num_test=num_test)
    names = [predictors] if isinstance(predictors, str) else list(predictors)
    if not names or any(p not in PREDICTORS for p in names):
        raise ValueError(f"predictors must be among {list(PREDICTORS)}, got {predictors!r}.")
    efficiency = _check_sizes("efficiency_sizes", efficiency_sizes)
    if len(efficiency) != 2:
        raise ValueError(f"efficiency_sizes must be two sizes, got {efficiency_sizes!r}.")
    _tree_estimator(estimator, 0)  # fail before sampling
    scores, mean_test = {}, {}
    for size in sizes:
        x_train, y_train = _sample_codes_and_factors(ground_truth_data, representation_function,
                                                     factor_sizes, size, rs, batch_size)
        x_test, y_test = _sample_codes_and_factors(ground_truth_data, representation_function,
                                                   factor_sizes, num_test, rs, batch_size)
        seed = _seed(rs)
        for name in names:
            short = PREDICTORS[name]
            models = [LogisticRegressionCV() if name == "logistic_regression" else
                      _tree_estimator(estimator, seed) for _ in factor_sizes]
            results = _fit_factors(models, x_train, y_train, x_test, y_test, n_jobs)
            train, test = (np.array([r[i] for r in results]) for i in (1, 2))
            mean_test[short, size] = float(np.mean(test))
            scores[f"{short}_{size}_test_accuracy"] = float(np.mean(test))
            scores[f"{short}_{size}_train_accuracy"] = float(np.mean(train))
            scores[f"{short}_{size}_min_test_accuracy"] = float(np.min(test))
            scores.update({f"{short}_{size}_test_accuracy_factor_{k}": float(v)
                           for k, v in enumerate(test)})
    for name in names:
        short = PREDICTORS[name]
        scores[f"{short}_test_accuracy"] = mean_test[short, sizes[-1]]
        if all(n in sizes for n in efficiency):
            low, high = (mean_test[short, n] for n in efficiency)
            scores[f"{short}_sample_efficiency"] = low / high if high > 0 else 0.0
    return scores
