"""Scores from the information each code dimension carries about each factor: MIG (Chen et
al. 2018), SAP (Kumar et al. 2018), modularity and explicitness (Ridgeway & Mozer 2018)."""

import warnings

import numpy as np

from ae_zoo.evaluation.disentanglement._common import (
    _DEFAULT_BATCH_SIZE,
    _DEFAULT_NUM_BINS,
    _check_positive_int,
    _discretize,
    _entropy,
    _logistic_ovr,
    _mutual_info_matrix,
    _sample_codes_and_factors,
    _seed,
    _setup,
    _top_two_gap,
)


def mig(ground_truth_data, representation_function, random_state, *, num_train=10000,
        num_bins=_DEFAULT_NUM_BINS, batch_size=_DEFAULT_BATCH_SIZE):
    """Mutual Information Gap (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs").

    MIG = 1/K sum_k (I(z_j(1); v_k) - I(z_j(2); v_k)) / H(v_k), where j(1), j(2) are the code
    dimensions with the largest and second largest mutual information with factor v_k.
    Each code dimension is discretised into ``num_bins`` equal-width bins over its range;
    MI and H are plug-in estimates on ``num_train`` samples.

    Defaults (Locatello et al. 2019): num_train=10000, num_bins=20.

    Returns ``{"mig", "mig_per_factor_0", ..., "mig_per_factor_<K-1>"}``.
    """
    sizes, rs = _setup(ground_truth_data, representation_function, random_state, batch_size,
                       num_train=num_train)
    _check_positive_int("num_bins", num_bins, minimum=2)
    codes, factors = _sample_codes_and_factors(ground_truth_data, representation_function,
                                               sizes, num_train, rs, batch_size)
    info = _mutual_info_matrix(_discretize(codes, num_bins), factors)
    entropy = np.array([_entropy(factors[:, k]) for k in range(len(sizes))])
    per_factor = np.divide(_top_two_gap(info), entropy, out=np.zeros(len(sizes)),
                           where=entropy > 0)
    scores = {"mig": float(np.mean(per_factor))}
    scores.update({f"mig_per_factor_{k}": float(v) for k, v in enumerate(per_factor)})
    return scores


def sap(ground_truth_data, representation_function, random_state, *, num_train=10000,
        num_test=5000, C=0.01, batch_size=_DEFAULT_BATCH_SIZE):
    """Separated Attribute Predictability (Kumar et al. 2018, "Variational Inference of
    Disentangled Latent Concepts from Unlabeled Observations").

    S[d, k] = test accuracy of a linear SVM predicting factor v_k from the single code z_d
    (``LinearSVC(C=0.01, class_weight="balanced")``, disentanglement_lib's setting for
    discrete factors); SAP = 1/K sum_k (largest - second largest S[., k] over d).

    Defaults (Locatello et al. 2019): num_train=10000, num_test=5000, C=0.01.

    Returns ``{"sap"}``.
    """
    from sklearn.exceptions import ConvergenceWarning  # scikit-learn loads on first use (~1.5 s)
    from sklearn.svm import LinearSVC  # scikit-learn loads on first use (~1.5 s)

    sizes, rs = _setup(ground_truth_data, representation_function, random_state, batch_size,
                       num_train=num_train, num_test=num_test)
    x_train, y_train = _sample_codes_and_factors(ground_truth_data, representation_function,
                                                 sizes, num_train, rs, batch_size)
    x_test, y_test = _sample_codes_and_factors(ground_truth_data, representation_function,
                                               sizes, num_test, rs, batch_size)
    seed = _seed(rs)  # one seed for every fit: the score does not depend on code order
    scores = np.zeros((x_train.shape[1], len(sizes)))
    constant = [np.unique(y_train[:, k]).size < 2 for k in range(len(sizes))]
    for d in range(x_train.shape[1]):
        for k in range(len(sizes)):
            if constant[k]:  # only possible for tiny num_train: every code scores the same
                scores[d, k] = np.mean(y_test[:, k] == y_train[0, k])
                continue
            svm = LinearSVC(C=C, class_weight="balanced", random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                svm.fit(x_train[:, d:d + 1], y_train[:, k])
            scores[d, k] = np.mean(svm.predict(x_test[:, d:d + 1]) == y_test[:, k])
    return {"sap": float(np.mean(_top_two_gap(scores)))}


def _explicitness(x_train, y_train, x_test, y_test, seed):
    """(train AUC, test AUC) of a one-vs-rest logistic regression codes -> one factor."""
    from sklearn.metrics import roc_auc_score  # scikit-learn loads on first use (~1.5 s)

    model = _logistic_ovr(seed).fit(x_train, y_train)
    aucs = []
    for x, y in ((x_train, y_train), (x_test, y_test)):
        proba = model.predict_proba(x)
        per_class = [roc_auc_score(y == c, proba[:, i]) for i, c in enumerate(model.classes_)
                     if 0 < np.count_nonzero(y == c) < len(y)]
        aucs.append(float(np.mean(per_class)) if per_class else 0.5)  # 0.5: chance
    return aucs


def modularity_explicitness(ground_truth_data, representation_function, random_state, *,
                            num_train=10000, num_test=5000, num_bins=_DEFAULT_NUM_BINS,
                            batch_size=_DEFAULT_BATCH_SIZE):
    """Modularity and explicitness (Ridgeway & Mozer 2018, "Learning Deep Disentangled
    Embeddings with the F-Statistic Loss").

    m[d, k] = discrete MI between code d (``num_bins`` equal-width bins) and factor k on the
    training codes; theta_d = max_k m[d, k]; against the template t_d. = theta_d at the
    argmax and 0 elsewhere, delta_d = sum_k (m[d, k] - t[d, k])^2 / (theta_d^2 (K - 1));
    modularity = mean_d (1 - delta_d), counting codes with no information (theta_d = 0)
    as 0, as disentanglement_lib does. Explicitness: per factor a one-vs-rest logistic
    regression (C=1, liblinear) on all codes, standardised with the training mean and std;
    mean one-vs-rest ROC AUC over the classes, averaged over factors, on train and test
    codes (0.5 is chance, 1 perfect).

    Defaults (Locatello et al. 2019): num_train=10000, num_test=5000, num_bins=20.

    Returns ``{"modularity", "explicitness_train", "explicitness_test"}``.
    """
    sizes, rs = _setup(ground_truth_data, representation_function, random_state, batch_size,
                       num_train=num_train, num_test=num_test)
    _check_positive_int("num_bins", num_bins, minimum=2)
    x_train, y_train = _sample_codes_and_factors(ground_truth_data, representation_function,
                                                 sizes, num_train, rs, batch_size)
    x_test, y_test = _sample_codes_and_factors(ground_truth_data, representation_function,
                                               sizes, num_test, rs, batch_size)
    info = _mutual_info_matrix(_discretize(x_train, num_bins), y_train)  # [D, K]
    # the classifiers see codes standardised with the training mean and std
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    seed = _seed(rs)
    auc = np.array([_explicitness(x_train, y_train[:, k], x_test, y_test[:, k], seed)
                    for k in range(len(sizes)) if np.unique(y_train[:, k]).size > 1])
    if auc.size == 0:  # only possible for tiny num_train
        auc = np.full((1, 2), 0.5)
    return {
        "modularity": _modularity(info),
        "explicitness_train": float(np.mean(auc[:, 0])),
        "explicitness_test": float(np.mean(auc[:, 1])),
    }


def _modularity(info):
    """Ridgeway & Mozer modularity of an MI matrix [D codes, K factors]."""
    info = np.asarray(info, dtype=np.float64)
    num_factors = info.shape[1]
    if num_factors == 1:
        return 1.0
    theta_sq = np.max(info, axis=1) ** 2
    off_max = np.sum(info ** 2, axis=1) - theta_sq
    delta = np.divide(off_max, theta_sq * (num_factors - 1), out=np.ones_like(theta_sq),
                      where=theta_sq > 0)
    return float(np.mean(1.0 - delta))
