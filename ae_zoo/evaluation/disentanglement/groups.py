"""The group-based scores: BetaVAE (Higgins et al. 2017) and FactorVAE (Kim & Mnih 2018).
A point is a group of observations that share one factor."""

import numpy as np

from ae_zoo.evaluation.disentanglement._common import (
    _DEFAULT_BATCH_SIZE,
    _check_positive_int,
    _iter_groups,
    _logistic_ovr,
    _sample_codes_and_factors,
    _sample_factors,
    _seed,
    _setup,
)


def beta_vae_score(ground_truth_data, representation_function, random_state, *,
                   num_train=10000, num_eval=5000, group_size=64,
                   batch_size=_DEFAULT_BATCH_SIZE):
    """BetaVAE score (Higgins et al. 2017, "beta-VAE: Learning Basic Visual Concepts...").

    A point: draw a factor k uniformly, ``group_size`` pairs (x1, x2) that share factor k
    (other factors random); feature = mean over pairs of |z(x1) - z(x2)|, label = k. A
    one-vs-rest logistic regression (C=1, liblinear; disentanglement_lib's sklearn-default
    classifier) is trained on ``num_train`` points and scored on ``num_eval`` others.

    Defaults (Locatello et al. 2019): num_train=10000, num_eval=5000, group_size=64 pairs.
    ``batch_size`` observations per representation call.

    Returns ``{"train_accuracy", "eval_accuracy"}``; chance is 1/K.
    """
    sizes, rs = _setup(ground_truth_data, representation_function, random_state, batch_size,
                       num_train=num_train, num_eval=num_eval)
    _check_positive_int("group_size", group_size)

    def make_pairs(k):
        first = _sample_factors(ground_truth_data, sizes, group_size, rs)
        second = _sample_factors(ground_truth_data, sizes, group_size, rs)
        second[:, k] = first[:, k]
        return np.concatenate([first, second], axis=0)

    def features(num):
        labels, rows = np.empty(num, dtype=np.int64), []
        groups = _iter_groups(ground_truth_data, representation_function, sizes, num,
                              make_pairs, rs, batch_size)
        for i, (k, codes) in enumerate(groups):
            labels[i] = k
            rows.append(np.mean(np.abs(codes[:group_size] - codes[group_size:]), axis=0))
        return np.stack(rows), labels

    x_train, y_train = features(num_train)
    x_eval, y_eval = features(num_eval)
    if np.unique(y_train).size < 2:  # only possible for tiny num_train
        majority = np.bincount(y_train).argmax()
        return {"train_accuracy": 1.0, "eval_accuracy": float(np.mean(y_eval == majority))}
    model = _logistic_ovr(_seed(rs)).fit(x_train, y_train)
    return {
        "train_accuracy": float(np.mean(model.predict(x_train) == y_train)),
        "eval_accuracy": float(np.mean(model.predict(x_eval) == y_eval)),
    }


def factor_vae_score(ground_truth_data, representation_function, random_state, *,
                     num_train=10000, num_eval=5000, group_size=64,
                     num_variance_estimate=10000, prune_threshold=0.05,
                     batch_size=_DEFAULT_BATCH_SIZE):
    """FactorVAE score (Kim & Mnih 2018, "Disentangling by Factorising").

    Global per-dimension std s_d from ``num_variance_estimate`` codes; dimensions with
    s_d < ``prune_threshold`` are inactive and dropped. A vote: draw factor k, render
    ``group_size`` observations with factor k fixed (others random); the vote is
    (k, argmin_d Var(z_d / s_d)) over active d (sample variance, ddof=1). The classifier is
    a majority vote: each code dimension predicts its most frequent factor among the
    ``num_train`` training votes; accuracy = fraction of votes it gets right.

    Defaults (Locatello et al. 2019): num_train=10000, num_eval=5000, group_size=64,
    num_variance_estimate=10000, prune_threshold=0.05. ``batch_size`` observations per
    representation call.

    Returns ``{"train_accuracy", "eval_accuracy", "num_active_dims"}``; all 0 when no
    dimension is active. Chance is about 1/K.
    """
    sizes, rs = _setup(ground_truth_data, representation_function, random_state, batch_size,
                       num_train=num_train, num_eval=num_eval,
                       num_variance_estimate=num_variance_estimate)
    _check_positive_int("group_size", group_size, minimum=2)
    codes, _ = _sample_codes_and_factors(ground_truth_data, representation_function, sizes,
                                         num_variance_estimate, rs, batch_size)
    global_var = np.var(codes, axis=0, ddof=1)
    num_codes = codes.shape[1]
    del codes
    active = np.flatnonzero(np.sqrt(global_var) >= prune_threshold)
    if active.size == 0:
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0.0}

    def make_group(k):
        factors = _sample_factors(ground_truth_data, sizes, group_size, rs)
        factors[:, k] = factors[0, k]
        return factors

    def votes(num):
        table = np.zeros((len(sizes), num_codes), dtype=np.int64)
        groups = _iter_groups(ground_truth_data, representation_function, sizes, num,
                              make_group, rs, batch_size)
        for k, group_codes in groups:
            local_var = np.var(group_codes[:, active], axis=0, ddof=1)
            table[k, active[np.argmin(local_var / global_var[active])]] += 1
        return table

    train_votes = votes(num_train)
    eval_votes = votes(num_eval)
    classifier = np.argmax(train_votes, axis=0)  # code dimension -> factor
    dims = np.arange(num_codes)
    return {
        "train_accuracy": float(train_votes[classifier, dims].sum() / train_votes.sum()),
        "eval_accuracy": float(eval_votes[classifier, dims].sum() / eval_votes.sum()),
        "num_active_dims": float(active.size),
    }
